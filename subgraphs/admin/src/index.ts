export { createAdminServer, typeDefs } from './server';
