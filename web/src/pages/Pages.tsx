import { useRoute } from '../router.js'
import { Actions } from './Actions.js'
import { FilePage } from './File.js'
import { Files } from './Files.js'
import { Links } from './Links.js'
import { Overview } from './Overview.js'
import { Problems } from './Problems.js'
import { TaskPage } from './Task.js'
import { Tasks } from './Tasks.js'
import { Users } from './Users.js'

/** The page of the current path. */
export function Pages() {
  const { parts } = useRoute()
  const [first, second] = parts
  switch (first) {
    case undefined:
      return <Overview />
    case 'links':
      return <Links />
    case 'users':
      return <Users />
    case 'tasks':
      return second !== undefined ? <TaskPage task={second} /> : <Tasks />
    case 'files':
      return second !== undefined ? <FilePage id={second} /> : <Files />
    case 'problems':
      return <Problems />
    case 'actions':
      return <Actions />
    default:
      return <p className="error">No such page: {window.location.pathname}</p>
  }
}
