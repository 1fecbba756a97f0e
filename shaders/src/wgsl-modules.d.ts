// WGSL sources are imported as text (`?raw`), by vite in the tab and by the esbuild plugin of the
// test and bench pages.
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
