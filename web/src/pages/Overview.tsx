import { useState } from 'react'
import type { OverviewResponse, TimeseriesResponse } from '../api/types.js'
import { Stat } from '../components/Stat.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { ThroughputChart } from '../components/ThroughputChart.js'
import { ago, bytes, count, percent } from '../format.js'
import { Link, path } from '../router.js'
import { STATE_COLOURS, STATES } from '../states.js'
import { useApi } from '../use-api.js'

const always = () => true

export function Overview() {
  const overview = useApi<OverviewResponse>('/api/v1/dashboard/overview', always)
  const [range, setRange] = useState<'hour' | 'week'>('hour')
  const series = useApi<TimeseriesResponse>(`/api/v1/dashboard/timeseries?range=${range}`, always)
  const o = overview.data
  if (overview.error) return <ErrorBox message={overview.error} />
  if (!o) return <Loading />
  const oldest = o.oldestWaiting
  return (
    <>
      <h1>Overview {o.scope.user !== null && <small>— your transfers</small>}</h1>
      <section className="stats" aria-label="files per state">
        <Stat label="Files" value={count(o.total)} testId="count-total" />
        {STATES.map((s) => (
          <Stat
            key={s}
            label={s}
            value={count(o.states[s] ?? 0)}
            sub={bytes(o.bytes[s] ?? 0)}
            colour={STATE_COLOURS[s]}
            testId={`count-${s}`}
          />
        ))}
      </section>
      <section className="stats" aria-label="last hour">
        <Stat
          label="Done, last hour"
          value={count(o.lastHour.done)}
          sub={bytes(o.lastHour.doneBytes)}
          testId="hour-done"
        />
        <Stat
          label="Failed, last hour"
          value={count(o.lastHour.failed)}
          sub={bytes(o.lastHour.failedBytes)}
        />
        <Stat
          label="Success, last hour"
          value={percent(o.lastHour.successRate)}
          sub={`all time ${percent(o.successRate)}`}
        />
        <Stat label="Active engine jobs" value={count(o.activeEngineJobs)} testId="engine-jobs" />
        <Stat
          label="Oldest waiting file"
          value={oldest ? ago(oldest.createdAt, o.asOf) : 'none'}
          sub={
            oldest ? (
              <>
                {oldest.user} on {oldest.source}→{oldest.destination}
                {oldest.id && (
                  <>
                    {' '}
                    <Link to={path('files', oldest.id)}>why?</Link>
                  </>
                )}
              </>
            ) : (
              'nothing waits'
            )
          }
        />
      </section>
      <section className="panel">
        <div className="panel-head">
          <h2>Files ended {range === 'hour' ? 'per minute, last hour' : 'per hour, last week'}</h2>
          <div className="tabs" role="tablist">
            {(['hour', 'week'] as const).map((r) => (
              <button
                key={r}
                type="button"
                role="tab"
                aria-selected={range === r}
                onClick={() => setRange(r)}
              >
                {r === 'hour' ? 'Last hour' : 'Last week'}
              </button>
            ))}
          </div>
        </div>
        {series.error && <ErrorBox message={series.error} />}
        {series.data && <ThroughputChart series={series.data} />}
      </section>
    </>
  )
}
