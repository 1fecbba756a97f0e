// The hashes of the library files, built into the page by the vite plugin of @flock/libraries/node.
declare module 'virtual:flock-library-manifest' {
  import type { LibraryManifest } from '@flock/libraries';

  const manifest: LibraryManifest;
  export default manifest;
}
