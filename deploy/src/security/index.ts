/**
 * Securing a bramble: the roles and their nats-server permissions, the credentials directory
 * `bramble deploy creds` writes (passwords, bcrypt hashes, a CA and node certificates), and
 * reading back what a node, an admin or the dashboard needs to connect.
 */
export { CA_DAYS, createCertificateAuthority, createNodeCertificate, type KeyAndCertificateFiles, type KeyType, nodeAltNames, NODE_CERT_DAYS } from "./Certificates.js"
export { caFileFor, credentialPaths, type TlsFiles, tlsEnabled, tlsFilesFor, UserNames, USERS_FILE } from "./CredentialLayout.js"
export {
  type ClientCredentials,
  loadClientCredentials,
  loadNodeCredentials,
  loadServerSecurity,
  parsePasswordHashes,
  passwordFileOf,
  type PasswordHashesFile,
  readPassword,
  readPasswordHashes,
  renderPasswordHashes,
  type ServerSecurity,
  serverSecurityFor
} from "./Credentials.js"
export { type CredentialsReport, generateCredentials, type GenerateCredentialsOptions } from "./GenerateCredentials.js"
export { bcryptHash, bcryptMatches, DEFAULT_BCRYPT_COST, generatePassword, isBcryptHash } from "./PasswordHash.js"
export {
  clusterRoles,
  devicePartition,
  inboxPrefixFor,
  natsUsersFor,
  permissionsOf,
  type Role,
  type RolePermissions,
  userNameOf
} from "./Roles.js"
export { SecurityError } from "./SecurityError.js"
