import type { ReactNode } from 'react'

/** One figure of the overview: a label, a value, and a line under it. */
export function Stat({
  label,
  value,
  sub,
  colour,
  testId,
}: {
  label: string
  value: ReactNode
  sub?: ReactNode
  colour?: string
  testId?: string
}) {
  return (
    <div className="stat" style={colour ? { borderTopColor: colour } : undefined}>
      <div className="stat-label">{label}</div>
      <div className="stat-value" data-testid={testId}>
        {value}
      </div>
      {sub !== undefined && <div className="stat-sub">{sub}</div>}
    </div>
  )
}
