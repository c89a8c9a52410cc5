/**
 * Task names belong to users: a task is owned by the user who first injected a file into it, and no other
 * user may add files to it (so reach its callback URL) or learn anything of it.
 */
import type { FieldError } from './errors.js'

/** The refusal of a file in another user's task: it names neither that user nor anything of the task. */
export function taskOfAnotherUser(task: string): FieldError {
  return {
    field: 'task',
    message: `task "${task}" is already used by another user: choose another task name`,
  }
}
