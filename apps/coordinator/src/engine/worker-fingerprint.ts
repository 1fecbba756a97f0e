// A volunteer's environment fingerprint, as the audit log shows it beside each attempt: browser and
// OS (the tab's labels, else its WebSocket upgrade's User-Agent), the WebGPU adapter, the driver
// and network where the tab tells, and every label its capability reports.
import type { Capability } from '@flock/protocol';

/** What the audit API shows of the worker that ran an attempt (JSON, snake_case). */
export interface WorkerFingerprint {
  user_agent: string | null;
  browser: string | null;
  os: string | null;
  /** The WebGPU adapter (GPUAdapterInfo), null without one. */
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  driver: string | null;
  /** `navigator.connection.effectiveType` ("4g", ...), where the browser tells. */
  network: string | null;
  labels: Record<string, string>;
}

/** The browser and version of a User-Agent (`Chrome 131.0.0.0`), or null. */
export function browserOf(userAgent: string): string | null {
  const match = /(Edg|OPR|Firefox|HeadlessChrome|Chromium|Chrome)\/([\d.]+)/.exec(userAgent);
  if (match) {
    const name = match[1] === 'Edg' ? 'Edge' : match[1] === 'OPR' ? 'Opera' : match[1];
    return `${name} ${match[2]}`;
  }
  const safari = /Version\/([\d.]+).*Safari\//.exec(userAgent);
  return safari ? `Safari ${safari[1]}` : null;
}

/** The OS named in a User-Agent's platform part, or null. */
export function osOf(userAgent: string): string | null {
  const rules: Array<[RegExp, (m: RegExpExecArray) => string]> = [
    [/Windows NT ([\d.]+)/, (m) => `Windows NT ${m[1]}`],
    [/Android ([\d.]+)/, (m) => `Android ${m[1]}`],
    [/(?:iPhone|iPad); CPU (?:iPhone )?OS ([\d_]+)/, (m) => `iOS ${m[1]!.replace(/_/g, '.')}`],
    [/Mac OS X ([\d_.]+)/, (m) => `macOS ${m[1]!.replace(/_/g, '.')}`],
    [/CrOS/, () => 'ChromeOS'],
    [/Linux/, () => 'Linux'],
  ];
  for (const [re, name] of rules) {
    const m = re.exec(userAgent);
    if (m) return name(m);
  }
  return null;
}

/** The fingerprint of a worker from its hello's capability and its upgrade request's User-Agent. */
export function fingerprintOf(capability: Capability, userAgent: string | undefined): WorkerFingerprint {
  const labels: Record<string, string> = { ...(capability.labels ?? {}) };
  const ua = userAgent?.slice(0, 512) ?? null;
  const gpu = capability.gpu;
  return {
    user_agent: ua,
    browser: (ua === null ? null : browserOf(ua)) ?? labels.browser ?? null,
    os: labels.os ?? (ua === null ? null : osOf(ua)),
    adapter:
      gpu === undefined
        ? null
        : {
            vendor: gpu.vendor ?? '',
            architecture: gpu.architecture ?? '',
            device: gpu.device ?? '',
            description: gpu.description ?? '',
          },
    driver: labels.driver ?? null,
    network: labels.network ?? null,
    labels,
  };
}
