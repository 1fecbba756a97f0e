// Launches the system Chromium (Debian package `chromium`) with the flags that work headless on
// these machines (see DESIGN.md "Headless Chromium facts"). Used by every browser test and bench.
import { type Browser, chromium, type LaunchOptions } from '@playwright/test';

export const CHROMIUM_PATH = process.env.FLOCK_CHROMIUM ?? '/usr/bin/chromium';

/** The flags every Flock browser run uses; `webgpu: false` gives a tab without navigator.gpu. */
export function chromiumArgs(options: { webgpu?: boolean } = {}): string[] {
  const args = [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--no-first-run',
  ];
  if (options.webgpu ?? true) args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan');
  else args.push('--disable-webgpu');
  return args;
}

/** Playwright launch options for the system Chromium. */
export function chromiumLaunchOptions(options: { webgpu?: boolean } = {}): LaunchOptions {
  return { executablePath: CHROMIUM_PATH, headless: true, args: chromiumArgs(options) };
}

export function launchChromium(options: { webgpu?: boolean } = {}): Promise<Browser> {
  return chromium.launch(chromiumLaunchOptions(options));
}
