// Runs one README code block (a module path given as argv[2]). A block that exports Fetch API
// route handlers (a Next.js route file) is imported and each handler is called with a Request,
// as the framework would; any other block runs as a script.
import { pathToFileURL } from 'node:url'

const VERBS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
const mod = await import(pathToFileURL(process.argv[2]).href)
for (const verb of VERBS.filter((v) => typeof mod[v] === 'function')) {
  const response = await mod[verb](new Request('https://example.test/', { method: verb }))
  if (!(response instanceof Response) || !response.ok) {
    throw new Error(`${verb} handler answered ${response && response.status}`)
  }
  console.log(`${verb} ${response.status} ${response.headers.get('set-cookie') ? 'cookie' : 'no cookie'}`)
}
