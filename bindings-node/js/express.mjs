import express from './express.js'

export const { OmnisessionStore, genid, defaultUserIdFrom, cookieSession } = express
export default express
