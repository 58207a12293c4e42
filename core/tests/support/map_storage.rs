//! A custom storage as a host would write one: a plain map with get/set/delete and, when
//! asked, the optional listing methods. Used to run the core's controls over a custom backend.
#![allow(dead_code)] // each test crate uses the part of this module it needs

use async_trait::async_trait;
use omnisession::backend::custom::{Capabilities, CustomStorage};
use omnisession::{Error, ErrorKind, Result, Session};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct MapStorage {
    records: Mutex<BTreeMap<String, String>>,
    pub caps: Capabilities,
    /// Makes every call fail, as a host storage whose database went away.
    pub failing: AtomicBool,
}

impl MapStorage {
    pub fn full() -> Self {
        let caps = Capabilities {
            list_by_user_id: true,
            list: true,
            cleanup: false,
        };
        Self {
            caps,
            ..Self::default()
        }
    }

    fn check(&self) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::BackendError,
                "the host storage threw",
            ));
        }
        Ok(())
    }

    /// Stores raw bytes under an id, as a broken host storage might.
    pub fn put_raw(&self, id: &str, wire: &str) {
        self.records
            .lock()
            .unwrap()
            .insert(id.to_owned(), wire.to_owned());
    }

    fn decode(wire: &str) -> Result<Session> {
        Session::from_wire(wire.as_bytes()).map_err(|e| Error::new(ErrorKind::BackendError, e))
    }
}

#[async_trait]
impl CustomStorage for MapStorage {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn get(&self, id: &str) -> Result<Option<Session>> {
        self.check()?;
        let wire = self.records.lock().unwrap().get(id).cloned();
        wire.map(|w| Self::decode(&w)).transpose()
    }

    async fn set(&self, session: &Session, _expires_ms: Option<i64>) -> Result<()> {
        self.check()?;
        self.records
            .lock()
            .unwrap()
            .insert(session.id.clone(), session.to_wire());
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.check()?;
        self.records.lock().unwrap().remove(id);
        Ok(())
    }

    async fn list_by_user_id(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        self.check()?;
        let all: Vec<String> = self.records.lock().unwrap().values().cloned().collect();
        let sessions = all.iter().filter_map(|w| Self::decode(w).ok());
        Ok(sessions
            .filter(|s| s.site_id == site && s.user_id.as_deref() == Some(user))
            .collect())
    }

    async fn list(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Session>, Option<String>)> {
        self.check()?;
        let records = self.records.lock().unwrap();
        let after = records.range::<str, _>((
            cursor.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            std::ops::Bound::Unbounded,
        ));
        let page: Vec<(String, String)> = after
            .take(limit + 1)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let more = page.len() > limit;
        let page = &page[..page.len().min(limit)];
        let next = if more {
            page.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok((
            page.iter()
                .filter_map(|(_, w)| Self::decode(w).ok())
                .collect(),
            next,
        ))
    }

    async fn cleanup(&self, _now_ms: i64) -> Result<u64> {
        Ok(0)
    }
}
