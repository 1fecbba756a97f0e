export {
  allLibraryFiles,
  LIBRARY_FILES,
  type LibraryFile,
  type LibraryManifest,
  libraryFilePath,
} from './files.ts';
export { isLibraryName, LIBRARIES, LIBRARY_NAMES } from './libraries.ts';
export { LibraryError, type LibraryErrorCode } from './library-error.ts';
export {
  type Comparison,
  type LibraryDefinition,
  type LibraryLimits,
  type LibraryName,
  type MethodDefinition,
  opOf,
} from './method.ts';
export { checkParams, type ParamSpec, type Params, type ParamsSchema } from './params.ts';
export { type CheckedCall, checkLibraryCall, getMethod, METHODS } from './registry.ts';
