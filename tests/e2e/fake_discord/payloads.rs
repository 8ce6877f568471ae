//! JSON payloads shaped like Discord's, complete enough for serenity 0.12.5 to deserialize.
//!
//! Fields serenity requires (no `Option`, no `#[serde(default)]`) that are easy to miss:
//! `Role.colors` (an object), `Reaction.burst` and `type`, `CommandInteraction.attachment_size_limit`,
//! `Command.version`, `Message.{tts, mention_everyone, mentions, mention_roles, attachments,
//! embeds, pinned, type, timestamp}`, `Member.{deaf, mute, flags}`, `Guild.{joined_at, large,
//! member_count, voice_states, presences, threads, stage_instances, guild_scheduled_events,
//! stickers, emojis, nsfw_level, premium_progress_bar_enabled, ...}`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::{ChannelSpec, GuildSpec, State};

/// Permission bits used in role / member payloads.
mod perm {
    pub const ADD_REACTIONS: u64 = 1 << 6;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    pub const EMBED_LINKS: u64 = 1 << 14;
    pub const ATTACH_FILES: u64 = 1 << 15;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const MENTION_EVERYONE: u64 = 1 << 17;
    pub const USE_EXTERNAL_EMOJIS: u64 = 1 << 18;
    pub const MANAGE_ROLES: u64 = 1 << 28;
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    pub const MANAGE_THREADS: u64 = 1 << 34;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
}

/// `@everyone` permissions: what a fresh Discord guild grants.
pub(super) const EVERYONE_PERMISSIONS: u64 = perm::ADD_REACTIONS
    | perm::VIEW_CHANNEL
    | perm::SEND_MESSAGES
    | perm::EMBED_LINKS
    | perm::ATTACH_FILES
    | perm::READ_MESSAGE_HISTORY
    | perm::USE_EXTERNAL_EMOJIS
    | perm::USE_APPLICATION_COMMANDS
    | perm::CREATE_PUBLIC_THREADS
    | perm::CREATE_PRIVATE_THREADS
    | perm::SEND_MESSAGES_IN_THREADS;

/// The bot's managed role adds moderation permissions.
pub(super) const BOT_PERMISSIONS: u64 =
    EVERYONE_PERMISSIONS | perm::MANAGE_MESSAGES | perm::MENTION_EVERYONE | perm::MANAGE_ROLES | perm::MANAGE_THREADS;

/// When every member "joined" the guild.
const JOINED_AT: &str = "2024-01-15T09:00:00.000000+00:00";

/// Interaction `attachment_size_limit` (25 MiB, the default tier).
const ATTACHMENT_SIZE_LIMIT: u64 = 26_214_400;

/// Milliseconds since the Unix epoch.
pub(super) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// ISO-8601 / RFC-3339 UTC timestamp as Discord writes it (`2024-05-01T12:34:56.789000+00:00`).
pub(super) fn iso_timestamp(unix_ms: u64) -> String {
    let secs = (unix_ms / 1000) as i64;
    let micros = (unix_ms % 1000) * 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Now, as a Discord timestamp.
pub(super) fn now_iso() -> String {
    iso_timestamp(unix_millis())
}

/// A snowflake as the JSON string Discord sends.
pub(super) fn sf(id: u64) -> Value {
    Value::String(id.to_string())
}

/// Parses a snowflake sent as a string or a number.
pub(super) fn parse_sf(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A user object. Unknown ids get a placeholder name.
pub(super) fn user(spec: &GuildSpec, user_id: u64) -> Value {
    if user_id == spec.bot_user_id {
        return bot_user(spec);
    }
    let username = spec
        .any_member(user_id)
        .map_or_else(|| format!("user-{user_id}"), |m| m.username.clone());
    let bot = spec.is_bot(user_id);
    json!({
        "id": sf(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": username,
        "avatar": null,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "banner": null,
        "accent_color": null,
        "avatar_decoration_data": null,
    })
}

/// The bot's user object (also what `GET /users/@me` answers).
pub(super) fn bot_user(spec: &GuildSpec) -> Value {
    json!({
        "id": sf(spec.bot_user_id),
        "username": spec.bot_username,
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": true,
        "system": false,
        "mfa_enabled": false,
        "verified": true,
        "email": null,
        "flags": 0,
        "public_flags": 0,
        "banner": null,
        "accent_color": null,
        "locale": "en-US",
        "premium_type": 0,
    })
}

/// Combined permissions of a role list (plus `@everyone`).
pub(super) fn permissions_of(spec: &GuildSpec, role_ids: &[u64]) -> u64 {
    if role_ids.contains(&spec.bot_role_id()) {
        BOT_PERMISSIONS
    } else {
        EVERYONE_PERMISSIONS
    }
}

/// Role ids of any user: the bot has its managed role; members their current roles.
pub(super) fn roles_for(spec: &GuildSpec, st: &State, user_id: u64) -> Vec<u64> {
    if user_id == spec.bot_user_id {
        vec![spec.bot_role_id()]
    } else {
        st.roles_of(user_id)
    }
}

/// A guild member object; `with_user` adds the `user` field (absent in MESSAGE_CREATE).
pub(super) fn member(spec: &GuildSpec, st: &State, user_id: u64, with_user: bool) -> Value {
    let roles: Vec<Value> = roles_for(spec, st, user_id).into_iter().map(sf).collect();
    let mut m = json!({
        "roles": roles,
        "nick": null,
        "avatar": null,
        "banner": null,
        "joined_at": JOINED_AT,
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
    });
    if with_user {
        m["user"] = user(spec, user_id);
    }
    m
}

pub(super) fn role(spec: &GuildSpec, id: u64, name: &str, position: usize, permissions: u64, managed: bool) -> Value {
    let mut r = json!({
        "id": sf(id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": position,
        "permissions": permissions.to_string(),
        "managed": managed,
        "mentionable": !managed,
        "flags": 0,
    });
    if managed {
        r["tags"] = json!({"bot_id": sf(spec.bot_user_id)});
    }
    r
}

/// Every role: `@everyone` (id = guild id), the configured roles, then the bot's managed role.
pub(super) fn roles(spec: &GuildSpec) -> Vec<Value> {
    let mut out = vec![role(spec, spec.guild_id, "@everyone", 0, EVERYONE_PERMISSIONS, false)];
    for (i, r) in spec.roles.iter().enumerate() {
        out.push(role(spec, r.id, &r.name, i + 1, EVERYONE_PERMISSIONS, false));
    }
    out.push(role(
        spec,
        spec.bot_role_id(),
        &spec.bot_username,
        spec.roles.len() + 1,
        BOT_PERMISSIONS,
        true,
    ));
    out
}

/// A role object by id (for resolved interaction data).
pub(super) fn role_by_id(spec: &GuildSpec, role_id: u64) -> Option<Value> {
    roles(spec).into_iter().find(|r| parse_sf(&r["id"]) == Some(role_id))
}

/// A guild text channel (type 0).
pub(super) fn text_channel(spec: &GuildSpec, ch: &ChannelSpec, position: usize) -> Value {
    json!({
        "id": sf(ch.id),
        "type": 0,
        "guild_id": sf(spec.guild_id),
        "name": ch.name,
        "position": position,
        "permission_overwrites": [],
        "topic": null,
        "nsfw": false,
        "parent_id": null,
        "last_message_id": null,
        "last_pin_timestamp": null,
        "rate_limit_per_user": 0,
        "flags": 0,
    })
}

/// A public thread (type 11) owned by the bot.
pub(super) fn thread_channel(spec: &GuildSpec, id: u64, parent_id: u64, name: &str, auto_archive: u64) -> Value {
    let now = now_iso();
    json!({
        "id": sf(id),
        "type": 11,
        "guild_id": sf(spec.guild_id),
        "parent_id": sf(parent_id),
        "owner_id": sf(spec.bot_user_id),
        "name": name,
        "last_message_id": null,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "rate_limit_per_user": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": auto_archive,
            "archive_timestamp": now,
            "locked": false,
            "create_timestamp": now,
        },
        "member": {"join_timestamp": now, "flags": 0},
    })
}

/// A DM channel (type 1) with `recipient`.
pub(super) fn dm_channel(spec: &GuildSpec, id: u64, recipient: u64) -> Value {
    json!({
        "id": sf(id),
        "type": 1,
        "last_message_id": null,
        "last_pin_timestamp": null,
        "flags": 0,
        "recipients": [user(spec, recipient)],
    })
}

/// The GUILD_CREATE `d` (and, minus the gateway extras, `GET /guilds/{id}`).
pub(super) fn guild_create(spec: &GuildSpec, st: &State) -> Value {
    let mut members: Vec<Value> = spec.members.iter().map(|m| member(spec, st, m.user_id, true)).collect();
    members.push(member(spec, st, spec.bot_user_id, true));
    let own = |c: &&super::ChannelEntry| parse_sf(&c.json["guild_id"]) == Some(spec.guild_id);
    let channels: Vec<Value> = st
        .channels
        .values()
        .filter(|c| c.kind == 0)
        .filter(own)
        .map(|c| c.json.clone())
        .collect();
    let threads: Vec<Value> = st
        .channels
        .values()
        .filter(|c| c.kind == 11)
        .filter(own)
        .map(|c| c.json.clone())
        .collect();
    let mut roles = roles(spec);
    // Roles created since start belong to the guild they were created in (the desk's).
    for (guild, r) in &st.added_roles {
        if *guild == spec.guild_id {
            roles.push(role(spec, r.id, &r.name, roles.len(), 0, false));
        }
    }
    let system_channel = spec.channels.first().map(|c| sf(c.id)).unwrap_or(Value::Null);
    let mut guild = json!({
        "id": sf(spec.guild_id),
        "name": spec.guild_name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": sf(spec.owner_id),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": roles,
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": system_channel,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
    });
    // Split in two: one json! this large exceeds the default macro recursion limit.
    let extra = json!({
        "safety_alerts_channel_id": null,
        "incidents_data": null,
        "hub_type": null,
        "lazy": true,
        "joined_at": JOINED_AT,
        "large": false,
        "unavailable": false,
        "member_count": members.len(),
        "voice_states": [],
        "members": members,
        "channels": channels,
        "threads": threads,
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
    });
    if let (Some(g), Value::Object(extra)) = (guild.as_object_mut(), extra) {
        g.extend(extra);
    }
    guild
}

/// The READY `d`.
pub(super) fn ready(spec: &GuildSpec, session_id: &str, gateway_url: &str) -> Value {
    json!({
        "v": 10,
        "user": bot_user(spec),
        "guilds": [{"id": sf(spec.guild_id), "unavailable": true}],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": gateway_url,
        "shard": [0, 1],
        "application": {"id": sf(spec.application_id), "flags": (1u64 << 19) | (1u64 << 23)},
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["fake"],
        "user_settings": {},
        "_trace": ["[\"fake-discord-gateway\",{\"micros\":1}]"],
    })
}

/// A message object with every field serenity requires. Callers add `guild_id`, `member`,
/// `nonce`, `message_reference`, `interaction_metadata`, ... as needed.
pub(super) fn message(id: u64, channel_id: u64, author: Value, content: &str) -> Value {
    json!({
        "id": sf(id),
        "channel_id": sf(channel_id),
        "author": author,
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": [],
        "embeds": [],
        "reactions": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [],
    })
}

/// The `emoji` object for `"✅"` (unicode) or `"name:id"` (custom).
pub(super) fn emoji(text: &str) -> Value {
    match text.rsplit_once(':') {
        Some((name, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            json!({"id": id, "name": name, "animated": false})
        }
        _ => json!({"id": null, "name": text}),
    }
}

/// User and role ids mentioned in `content` as `<@id>`, `<@!id>`, `<@&id>`.
pub(super) fn mentions(content: &str) -> (Vec<u64>, Vec<u64>) {
    let (mut users, mut roles) = (Vec::new(), Vec::new());
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[..end];
        if let Some(role) = inner.strip_prefix('&') {
            if let Ok(id) = role.parse() {
                roles.push(id);
            }
        } else if let Ok(id) = inner.trim_start_matches('!').parse() {
            users.push(id);
        }
        rest = &rest[end..];
    }
    users.dedup();
    roles.dedup();
    (users, roles)
}

/// Builds `data.resolved` for user / role / channel options (recursively through sub-commands).
pub(super) fn resolved(spec: &GuildSpec, st: &State, options: &[Value]) -> Value {
    fn walk(spec: &GuildSpec, st: &State, options: &[Value], out: &mut [Map<String, Value>; 4]) {
        for o in options {
            let id = parse_sf(&o["value"]);
            match (o["type"].as_u64(), id) {
                (Some(1 | 2), _) => {
                    if let Some(nested) = o["options"].as_array() {
                        walk(spec, st, nested, out);
                    }
                }
                (Some(6), Some(id)) => {
                    out[0].insert(id.to_string(), user(spec, id));
                    out[1].insert(id.to_string(), member(spec, st, id, false));
                }
                (Some(8), Some(id)) => {
                    if let Some(r) = role_by_id(spec, id) {
                        out[2].insert(id.to_string(), r);
                    }
                }
                (Some(7), Some(id)) => {
                    if let Some(c) = st.channels.get(&id) {
                        let c = &c.json;
                        out[3].insert(
                            id.to_string(),
                            json!({"id": c["id"], "name": c["name"], "type": c["type"], "permissions": EVERYONE_PERMISSIONS.to_string(), "parent_id": c["parent_id"]}),
                        );
                    }
                }
                _ => {}
            }
        }
    }
    let mut maps: [Map<String, Value>; 4] = Default::default();
    walk(spec, st, options, &mut maps);
    let [users, members, roles, channels] = maps;
    let mut out = Map::new();
    for (key, map) in [
        ("users", users),
        ("members", members),
        ("roles", roles),
        ("channels", channels),
    ] {
        if !map.is_empty() {
            out.insert(key.to_string(), Value::Object(map));
        }
    }
    Value::Object(out)
}

/// Option builders for [`InteractionSpec`](super::InteractionSpec) (Discord option types).
pub mod opt {
    use serde_json::{json, Value};

    /// A STRING option (type 3).
    pub fn string(name: &str, value: impl Into<String>) -> Value {
        json!({"name": name, "type": 3, "value": value.into()})
    }

    /// An INTEGER option (type 4).
    pub fn integer(name: &str, value: i64) -> Value {
        json!({"name": name, "type": 4, "value": value})
    }

    /// A BOOLEAN option (type 5).
    pub fn boolean(name: &str, value: bool) -> Value {
        json!({"name": name, "type": 5, "value": value})
    }

    /// A USER option (type 6).
    pub fn user(name: &str, user_id: u64) -> Value {
        json!({"name": name, "type": 6, "value": user_id.to_string()})
    }

    /// A CHANNEL option (type 7).
    pub fn channel(name: &str, channel_id: u64) -> Value {
        json!({"name": name, "type": 7, "value": channel_id.to_string()})
    }

    /// A ROLE option (type 8).
    pub fn role(name: &str, role_id: u64) -> Value {
        json!({"name": name, "type": 8, "value": role_id.to_string()})
    }

    /// A NUMBER option (type 10).
    pub fn number(name: &str, value: f64) -> Value {
        json!({"name": name, "type": 10, "value": value})
    }

    /// A SUB_COMMAND (type 1) with its options.
    pub fn sub_command(name: &str, options: Vec<Value>) -> Value {
        json!({"name": name, "type": 1, "options": options})
    }

    /// A SUB_COMMAND_GROUP (type 2) holding sub-commands.
    pub fn sub_command_group(name: &str, sub_commands: Vec<Value>) -> Value {
        json!({"name": name, "type": 2, "options": sub_commands})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso_timestamp(1_709_251_199_123), "2024-02-29T23:59:59.123000+00:00");
    }

    #[test]
    fn mentions_are_parsed() {
        assert_eq!(mentions("hi <@12> and <@!34> <@&56> <@x>"), (vec![12, 34], vec![56]));
    }
}
