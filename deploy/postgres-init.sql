-- Runs once when the compose PostgreSQL volume is created: the run-time role the API and
-- the worker connect as. It owns nothing and cannot bypass row-level security; `msingi
-- migrate` (as the owner, msingi) grants it access to the tables.
CREATE ROLE msingi_app LOGIN PASSWORD 'msingi_app' NOSUPERUSER NOBYPASSRLS;
