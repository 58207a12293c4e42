//! napi's link settings for the Node addon.
fn main() {
    napi_build::setup();
}
