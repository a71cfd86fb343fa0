export * from './processes';
export { firstQuery } from './first-query';
