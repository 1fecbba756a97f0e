// What WebGPU adapter a page gets: the `gpu-hardware` project runs only on a real one.
import type { Browser, Page } from '@playwright/test';

/** The adapter a page would use; `undefined` fields when WebGPU gives none. */
export interface AdapterSummary {
  readonly present: boolean;
  readonly vendor?: string;
  readonly architecture?: string;
  readonly isFallbackAdapter?: boolean;
}

/** Asks the page's `navigator.gpu` for an adapter (the page must be a secure context). */
export function probeAdapter(page: Page): Promise<AdapterSummary> {
  return page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return { present: false };
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const legacy = adapter as GPUAdapter & { isFallbackAdapter?: boolean };
    return {
      present: true,
      vendor: info.vendor,
      architecture: info.architecture,
      isFallbackAdapter: Boolean(info.isFallbackAdapter ?? legacy.isFallbackAdapter),
    };
  });
}

/**
 * Probes the adapter of a browser without any server: a page at http://localhost/ (a secure
 * context, unlike about:blank) whose one request is answered by Playwright's router.
 */
export async function probeBrowserAdapter(browser: Browser): Promise<AdapterSummary> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.route('http://localhost/flock-adapter-probe', (route) =>
      route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>probe</title>' }),
    );
    await page.goto('http://localhost/flock-adapter-probe');
    return await probeAdapter(page);
  } finally {
    await context.close();
  }
}

/** A hardware adapter: present, not SwiftShader, not a fallback adapter. */
export function isHardwareAdapter(adapter: AdapterSummary): boolean {
  return adapter.present && adapter.architecture !== 'swiftshader' && adapter.isFallbackAdapter !== true;
}

/** Says what the adapter is, for a skip reason. */
export function describeAdapter(adapter: AdapterSummary): string {
  if (!adapter.present) return 'no WebGPU adapter';
  return `adapter ${adapter.vendor || '?'} / ${adapter.architecture || '?'}${adapter.isFallbackAdapter ? ' (fallback)' : ''}`;
}
