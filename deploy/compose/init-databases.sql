-- Runs once, on first start of the postgres container (empty data volume), from
-- /docker-entrypoint-initdb.d as POSTGRES_USER, which therefore owns the databases.
-- One database per process: each process migrates and uses only its own (see docker-compose.yml).
CREATE DATABASE jingzhun_gateway;
CREATE DATABASE jingzhun_registry;
CREATE DATABASE jingzhun_planning;
CREATE DATABASE jingzhun_assessment;
