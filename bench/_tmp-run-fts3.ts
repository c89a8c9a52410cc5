import { benchFts3 } from './fts3.js'
const f = await benchFts3({ log: (l) => console.log(l), files: Number(process.env.N ?? 5000) })
console.log(JSON.stringify(f, null, 1))
