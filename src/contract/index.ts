/** The API's wire contract (package subpath `aso/contract`): request and answer schemas (zod) and their types. */
export * from './dashboard.js'
export * from './schemas.js'
