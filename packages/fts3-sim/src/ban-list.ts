/**
 * The server's t_bad_ses / t_bad_dns (docs/fts3-rest.md §1 "Bans"): storage elements banned for a VO (or
 * every VO, `*`) with what happens to their transfers, and banned user DNs.
 */
import { ftsTime } from './wire-format.js'

/** CANCEL refuses submissions; WAIT holds queued files; WAIT_AS (WAIT with allow_submit) accepts them on hold. */
export type SeBanStatus = 'CANCEL' | 'WAIT' | 'WAIT_AS'

export interface SeBan {
  se: string
  vo: string
  status: SeBanStatus
  message: string
  adminDn: string
  additionTime: Date
}

export interface DnBan {
  dn: string
  message: string
  adminDn: string
  additionTime: Date
}

export class BanList {
  private readonly ses = new Map<string, SeBan>()
  private readonly dns = new Map<string, DnBan>()

  /** Bans (or re-bans: the server merges on storage and VO) a storage element. */
  banSe(ban: SeBan): void {
    this.ses.set(`${ban.se}\n${ban.vo}`, ban)
  }

  unbanSe(se: string, vo: string): void {
    this.ses.delete(`${se}\n${vo}`)
  }

  /** The ban that applies to `se` for a file of `vo`, if any. */
  seBanFor(se: string, vo: string): SeBan | undefined {
    return this.ses.get(`${se}\n${vo}`) ?? this.ses.get(`${se}\n*`)
  }

  banDn(ban: DnBan): void {
    this.dns.set(ban.dn, ban)
  }

  unbanDn(dn: string): void {
    this.dns.delete(dn)
  }

  isDnBanned(dn: string): boolean {
    return this.dns.has(dn)
  }

  /** `GET /ban/se`: the rows as the server serialises them. */
  seRows(): Record<string, unknown>[] {
    return [...this.ses.values()].map((b) => ({
      se: b.se,
      message: b.message,
      addition_time: ftsTime(b.additionTime),
      admin_dn: b.adminDn,
      vo: b.vo,
      status: b.status,
    }))
  }

  dnRows(): Record<string, unknown>[] {
    return [...this.dns.values()].map((b) => ({
      dn: b.dn,
      message: b.message,
      addition_time: ftsTime(b.additionTime),
      admin_dn: b.adminDn,
    }))
  }
}
