// Test only (OMNISESSION_NEXT_TEST=1, set by tests/node/next.test.mjs): how many stores
// omnisession/next holds in this process.
export function GET() {
  if (process.env.OMNISESSION_NEXT_TEST !== '1') return new Response(null, { status: 404 })
  const shared = globalThis[Symbol.for('omnisession.next')]
  return Response.json({ stores: shared ? shared.stores.size : 0 })
}
