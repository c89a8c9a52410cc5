import { useMemo } from 'react'
import type { TimeseriesResponse } from '../api/types.js'
import { bytes } from '../format.js'
import { STATE_COLOURS } from '../states.js'
import { Chart, type ChartOption } from './Chart.js'

function label(at: number, range: 'hour' | 'week'): string {
  const iso = new Date(at).toISOString()
  return range === 'hour' ? iso.slice(11, 16) : `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`
}

/** Files DONE / FAILED / KILLED per bucket (stacked bars) and bytes delivered (line, right axis). */
export function ThroughputChart({ series }: { series: TimeseriesResponse }) {
  const option = useMemo<ChartOption>(() => {
    const x = series.points.map((p) => label(p.at, series.range))
    return {
      animation: false,
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 50, right: 70, top: 36, bottom: 28 },
      xAxis: { type: 'category', data: x },
      yAxis: [
        { type: 'value', name: 'files', minInterval: 1 },
        { type: 'value', name: 'bytes', axisLabel: { formatter: (v: number) => bytes(v) } },
      ],
      series: [
        {
          name: 'done',
          type: 'bar',
          stack: 'files',
          color: STATE_COLOURS.DONE,
          data: series.points.map((p) => p.done),
        },
        {
          name: 'failed',
          type: 'bar',
          stack: 'files',
          color: STATE_COLOURS.FAILED,
          data: series.points.map((p) => p.failed),
        },
        {
          name: 'killed',
          type: 'bar',
          stack: 'files',
          color: STATE_COLOURS.KILLED,
          data: series.points.map((p) => p.killed),
        },
        {
          name: 'bytes done',
          type: 'line',
          yAxisIndex: 1,
          showSymbol: false,
          color: '#1f3b63',
          data: series.points.map((p) => p.doneBytes),
          tooltip: { valueFormatter: (v: number) => bytes(v) },
        },
      ],
    }
  }, [series])
  return <Chart option={option} label={`files ended per ${series.range === 'hour' ? 'minute' : 'hour'}`} />
}
