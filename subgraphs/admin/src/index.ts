export { createAdminServer, typeDefs } from './server';
export { tombstoneEmail } from './domain/users';
