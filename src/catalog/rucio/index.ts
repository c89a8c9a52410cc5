/** The Catalog on Rucio's REST API. */
export { RucioCatalog, type RucioCatalogOptions } from './rucio-catalog.js'
