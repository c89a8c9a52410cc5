/**
 * The configuration's public face (package subpath `aso/config`): reading `aso.yaml` exactly as the product
 * does (defaults, `ASO_*` overrides, validation with the field and the fix). Tools beside the product, such as
 * the FTS3 double, read their defaults through this, never the files behind it.
 */
export { type LoadedConfig, loadConfig, parseConfig, resolvePaths } from './load.js'
export type {
  ApiConfig,
  AsoConfig,
  CatalogConfig,
  Fts3Config,
  ProtocolConfig,
  SiteConfig,
  UserConfig,
} from './schema.js'
