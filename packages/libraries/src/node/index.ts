// Node-only helpers of @flock/libraries: the package files the coordinator serves, and the SDK's
// generated param types.
export { libraryManifest, libraryManifestPlugin, type PackageFile, packageFiles } from './package-files.ts';
export { paramsTypesSource } from './params-types.ts';
