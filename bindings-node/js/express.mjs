import express from './express.js'

export const { OmnisessionStore, genid, defaultUserIdFrom } = express
export default express
