/** STOMP connections, plain or over TLS, for the fts3 engine's receiver and the FTS3 double's publisher. */
export { type StompClientOptions, type StompConnection, stompClient } from './client.js'
export {
  CONFIG_FIELD_NAMES,
  checkStompFiles,
  GRID_CA_DIR,
  loadStompCredentials,
  type StompCredentials,
  type StompFieldNames,
  type StompSettings,
  type StompTarget,
  stompTarget,
} from './settings.js'
export { explainStompError, openStompSocket } from './socket.js'
export { parseStompUrl, type StompEndpoint } from './url.js'
