-- Runs once when the compose PostgreSQL volume is created: the two roles the API and the
-- worker connect as. Neither owns anything or can bypass row-level security; `msingi
-- migrate` (as the owner, msingi) grants them access to the tables.
--   msingi_app       tenant work: its tenant's rows only, whatever SQL it runs
--   msingi_platform  the platform door: every tenant, through its own policies
CREATE ROLE msingi_app LOGIN PASSWORD 'msingi_app' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE msingi_platform LOGIN PASSWORD 'msingi_platform' NOSUPERUSER NOBYPASSRLS;
