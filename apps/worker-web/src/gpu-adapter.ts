// Facts about a WebGPU adapter that both the tab's capability (main thread) and its executors'
// GPU (Workers) read, in one place.

/**
 * Whether the adapter is a fallback (software) one, e.g. SwiftShader in headless Chromium:
 * `GPUAdapterInfo.isFallbackAdapter`, or `GPUAdapter.isFallbackAdapter` of browsers before it moved.
 */
export function isFallbackAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return info.isFallbackAdapter ?? legacy ?? false;
}
