// Loads the WebAssembly module (client-web/wasm, served at /wasm/). All
// cryptography of the page goes through it; there is no second crypto
// implementation in JavaScript. Loaded lazily (dynamic import) so the
// account pages keep working when a server was built without the module.

let loading = null;

/** The initialised module namespace (AlcoveDevice, envelopeEncode, sealBytes, …). */
export function loadWasm() {
  if (!loading) {
    loading = (async () => {
      const mod = await import("/wasm/alcove_wasm.js");
      await mod.default({ module_or_path: "/wasm/alcove_wasm_bg.wasm" });
      return mod;
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}
