// A Server Component that tries to save: it must be refused before anything is stored.
import { cookies } from 'next/headers'
import { sessions } from '../../lib/session.js'

export default async function ReadOnly() {
  const session = await sessions.get(await cookies())
  session.data.fromServerComponent = true
  try {
    await sessions.save(session)
    return <p>saved</p>
  } catch (err) {
    return <p>refused: {`${err.name}: ${err.message}`}</p>
  }
}
