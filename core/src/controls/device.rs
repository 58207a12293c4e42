//! Device details a session records: the client's user agent is kept to its first
//! [`MAX_USER_AGENT_CHARS`] characters. It is a header the client chooses; a "your devices"
//! page needs its start, and a session's size limit should not be spent on (or refuse a login
//! for) a header nobody reads whole. Cut here, once, whoever passes it: an adapter filling it from
//! a request, or an app calling `create`, `update` or `login` itself.

/// The most characters (Unicode scalar values) of a user agent a session keeps.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// `ua` cut to [`MAX_USER_AGENT_CHARS`] characters, never inside one.
pub(crate) fn user_agent(mut ua: String) -> String {
    if let Some((end, _)) = ua.char_indices().nth(MAX_USER_AGENT_CHARS) {
        ua.truncate(end);
    }
    ua
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_512_characters_whole() {
        assert_eq!(user_agent("Mozilla/5.0".into()), "Mozilla/5.0");
        let exact = "a".repeat(MAX_USER_AGENT_CHARS);
        assert_eq!(user_agent(exact.clone()), exact);
        assert_eq!(user_agent(format!("{exact}b")), exact);
        // Multi-byte characters are counted as characters and never split.
        let wide = "é".repeat(MAX_USER_AGENT_CHARS + 3);
        let cut = user_agent(wide);
        assert_eq!(cut.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
