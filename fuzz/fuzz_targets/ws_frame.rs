//! The delivery socket's device → server JSON text frames
//! (`delivery::ws::fuzz_client_frame`: the frame parse of `on_frame`, the
//! base64 decoding of a `send`, the refusal frame).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 (the socket refuses others).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = alcove_server::delivery::ws::fuzz_client_frame(text);
});
