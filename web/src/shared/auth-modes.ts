/**
 * The auth modes as the server knows them (src/credentials/auth-modes.ts, plain data shared with the server):
 * the dashboard and the Connect UI ask here how each mode connects, what it asks for and how it is shown.
 */
export { authModeFacts, connectsInPopup } from '../../../src/credentials/auth-modes';
export type { AuthMode } from '../../../src/credentials/auth-modes';
