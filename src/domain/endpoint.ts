/** One storage URL for one end of a transfer; a site may offer several protocols, in its order of preference. */
export interface Endpoint {
  scheme: string
  url: string
  /** false when the site does not allow third-party copy through this endpoint */
  tpc?: boolean
}
