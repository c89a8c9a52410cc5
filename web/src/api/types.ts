/** The API's answers, as the server defines them (one definition: src/api/*schemas.ts). */
export type {
  AuditResponse,
  DashboardLinksResponse,
  FailureClassesResponse,
  LinkChangeBody,
  LinkSettingResponse,
  LoginOptionsResponse,
  OverviewResponse,
  ProblemsResponse,
  TaskListResponse,
  TimeseriesResponse,
  WeightBody,
  WeightResponse,
} from '../../../src/contract/dashboard.js'
export type {
  ExplanationResponse,
  KillResponse,
  ListResponse,
  PublicationRetryResponse,
  RetryResponse,
  SelectorBody,
  TaskSummaryResponse,
  TransferEvent,
  UsersResponse,
  WhoamiResponse,
} from '../../../src/contract/schemas.js'
export type { TransferState } from '../../../src/domain/states.js'

export type TransferRecord = import('../../../src/contract/schemas.js').ExplanationResponse['record']
