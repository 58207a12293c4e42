//! What the addon keeps per Node env (the main thread's and each worker's): one value per
//! type, each made and used by the module that owns it (the error class, the session
//! encoder, the completion queue). Node gives an addon one slot per env; this is that slot,
//! and it knows none of the types it holds, so no module it serves is imported here.

use napi::Env;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

#[derive(Default)]
struct Slots(HashMap<TypeId, Box<dyn Any>>);

/// This env's value of type `T`, made by `init` on first use. Only ever called on the env's
/// JS thread, one caller at a time (napi calls do not nest into another module's use of its
/// own value).
pub fn get_or_init<T: 'static>(
    env: &Env,
    init: impl FnOnce(&Env) -> napi::Result<T>,
) -> napi::Result<&'static mut T> {
    let slots = if let Some(slots) = env.get_instance_data::<Slots>()? {
        slots
    } else {
        env.set_instance_data(Slots::default(), (), |_| {})?;
        env.get_instance_data::<Slots>()?
            .ok_or_else(|| napi::Error::from_reason("the env data is not set"))?
    };
    let value = match slots.0.entry(TypeId::of::<T>()) {
        Entry::Occupied(slot) => slot.into_mut(),
        Entry::Vacant(slot) => slot.insert(Box::new(init(env)?)),
    };
    value
        .downcast_mut::<T>()
        .ok_or_else(|| napi::Error::from_reason("the env data holds another type"))
}
