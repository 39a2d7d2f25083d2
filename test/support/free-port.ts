export { freeLoopbackPort as freePort } from '../../src/db/free-port.js';
