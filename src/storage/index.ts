/**
 * The storage layer's public face (package subpath `aso/storage`): reaching storage by URL, the copy methods,
 * choosing one for a pair of ends, and verifying a destination against the record. The FTS3 double and other
 * tools outside the product use this, never the files behind it.
 */
export { normaliseAdler32 } from './adler32.js'
export { type ChildOptions, type ChildResult, childEnv, killAllChildren, runChild } from './child-process.js'
export type { CopyContext, CopyFile, CopyMethod, CopyResult, CopyTask } from './copy-method.js'
export { fileCopy } from './file/file-copy.js'
export { gfalCopy } from './gfal/gfal-copy.js'
export { httpStream } from './http/http-stream.js'
export { httpTpc } from './http/http-tpc.js'
export { chooseMethods, type MethodChoice } from './method-choice.js'
export {
  type FreeSpace,
  type FreeSpaceSource,
  type ProtocolHandler,
  type StatResult,
  StorageError,
  type StorageOptions,
  type TransferCredentials,
} from './protocol.js'
export { StorageRegistry } from './registry.js'
export {
  type DestinationReader,
  destinationProblem,
  mismatch,
  type RecordedFile,
  type Verification,
  verifyDestination,
} from './verify.js'
export { xrootMethods } from './xroot/xroot-methods.js'
