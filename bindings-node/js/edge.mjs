import edge from './edge.js'

export const { SessionVerifier } = edge
export default edge
