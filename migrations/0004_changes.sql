-- Changes and CAB votes by reaction.
-- Times are Unix milliseconds (UTC).

CREATE TABLE changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    risk          TEXT    NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    change_type   TEXT    NOT NULL CHECK (change_type IN ('standard', 'normal', 'emergency')),
    state         TEXT    NOT NULL CHECK (state IN ('new', 'assessment', 'cab_vote', 'authorized', 'rejected',
                                                    'scheduled', 'implementing', 'review', 'closed', 'cancelled')),
    window_start  INTEGER,
    window_end    INTEGER,
    requester     INTEGER NOT NULL,
    implementer   INTEGER,
    reason        TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK ((window_start IS NULL) = (window_end IS NULL)),
    CHECK (window_start IS NULL OR window_end > window_start)
);
CREATE INDEX changes_service_window ON changes (service, window_start);
CREATE INDEX changes_requester ON changes (requester, id);

-- One CAB (or ECAB) vote per change. The rules are copied in when the vote
-- opens, so a config edit never changes a vote under way.
CREATE TABLE cab_votes (
    change_id         INTEGER PRIMARY KEY REFERENCES changes (id),
    board             TEXT    NOT NULL CHECK (board IN ('cab', 'ecab')),
    eligible_roles    TEXT    NOT NULL,
    quorum            TEXT    NOT NULL,
    threshold         REAL    NOT NULL,
    expected_members  INTEGER NOT NULL,
    opened_by         INTEGER NOT NULL,
    opened_at         INTEGER NOT NULL,
    closes_at         INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('open', 'closed', 'cancelled')),
    outcome           TEXT    CHECK (outcome IN ('approved', 'rejected', 'no_quorum')),
    closed_at         INTEGER,
    CHECK ((status = 'closed') = (outcome IS NOT NULL))
);

-- At most one ballot per voter and vote.
CREATE TABLE cab_ballots (
    change_id  INTEGER NOT NULL REFERENCES cab_votes (change_id),
    voter      INTEGER NOT NULL,
    choice     TEXT    NOT NULL CHECK (choice IN ('approve', 'reject', 'abstain')),
    cast_at    INTEGER NOT NULL,
    PRIMARY KEY (change_id, voter)
);

-- Who was last seen holding which ITIL role: how many members a board has.
CREATE TABLE role_holders (
    user_id  INTEGER NOT NULL,
    role     TEXT    NOT NULL,
    seen_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Whether a user's reaction is on a message, and how often it has flipped.
-- A reaction event is new only when it changes this state, so a replayed
-- event is ignored while add → remove → add again is three events.
CREATE TABLE reaction_state (
    message_id  TEXT    NOT NULL,
    user_id     INTEGER NOT NULL,
    emoji       TEXT    NOT NULL,
    present     INTEGER NOT NULL CHECK (present IN (0, 1)),
    generation  INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
