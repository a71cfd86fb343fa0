export { createProfileServer, typeDefs } from './server';
