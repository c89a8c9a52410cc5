import { type BackendOptions, openBackend } from '../backend.js'

/** `aso whoami`: who the commands act as, and where. */
export async function whoamiCommand(opts: BackendOptions & { json?: boolean }) {
  const backend = await openBackend(opts)
  try {
    const me = await backend.whoami()
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(me, null, 2)}\n`)
      return
    }
    const how =
      me.method === 'local'
        ? 'local: the CLI opens the database itself ($ASO_USER, else the login name)'
        : `${me.method}${me.dn ? ` (${me.dn})` : ''}`
    process.stdout.write(
      [
        `${me.name} (${me.role === 'user' ? 'user: sees and acts on their own transfers' : `${me.role}: sees and acts on everyone's transfers`})`,
        `  groups: ${me.groups === null ? 'not known' : me.groups.join(', ') || 'none'}`,
        ...(me.vomsRoles.length ? [`  VOMS roles: ${me.vomsRoles.join(', ')}`] : []),
        `  authenticated by: ${how}`,
        `  working on: ${backend.where}`,
        '',
      ].join('\n'),
    )
  } finally {
    await backend.close()
  }
}
