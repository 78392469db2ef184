-- A results database written by autotune at schema version 2 (commit 8f4621e): one tuning session of a
-- European call (2 trials, 2 finalists re-measured side by side), Optuna's tables included. Made by `sqlite3 .dump`.
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('v3.2.0.a');
CREATE TABLE configs (
	id VARCHAR(64) NOT NULL, 
	knobs JSON NOT NULL, 
	backend VARCHAR(32) NOT NULL, 
	executor VARCHAR(32) NOT NULL, 
	workers INTEGER NOT NULL, 
	precision VARCHAR(16) NOT NULL, 
	chunk_size INTEGER, 
	qmc BOOLEAN NOT NULL, 
	shared_memory BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "configs" VALUES('c3cc91e3b979d418','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false, "antithetic": false, "control_variate": false, "method": "mc", "discretisation": "moments"}','numpy','serial',1,'float64',NULL,0,0);
INSERT INTO "configs" VALUES('d678bec8ef431b7b','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false, "antithetic": false, "control_variate": false, "method": "mc", "discretisation": "moments"}','numpy','serial',1,'float32',NULL,0,0);
CREATE TABLE machines (
	id VARCHAR(64) NOT NULL, 
	fingerprint JSON NOT NULL, 
	cpu_model VARCHAR(256), 
	usable_cores INTEGER, 
	provider VARCHAR(64), 
	instance_type VARCHAR(128), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "machines" VALUES('cec45e22cd302470','{"cpu_vendor": "GenuineIntel", "cpu_model": "Intel(R) Xeon(R) Processor", "physical_cores": 2, "logical_cores": 2, "usable_cores": 2, "affinity": [0, 1], "cpu_quota": null, "freq_max_mhz": null, "freq_current_mhz": 2600.0, "l1d_bytes": 49152, "l2_bytes": 2097152, "l3_bytes": 503316480, "isa_avx2": true, "isa_avx512f": true, "isa_fma": true, "isa_neon": false, "isa_sse4_2": true, "memory_total_bytes": 25275990016, "memory_available_bytes": 24157073408, "memory_limit_bytes": null, "gpu_platform": null, "gpu_kind": null, "gpu_count": 0, "gpu_memory_bytes": null, "blas_vendor": "libscipy_openblas", "blas_internal_api": "openblas", "blas_threads": 2, "blas_version": "0.3.31.188.0", "python_version": "3.11.7", "numpy_version": "2.4.6", "numba_version": "0.68.1", "jax_version": "0.10.2", "os_system": "Linux", "os_release": "6.18.44-fc-v1045", "os_platform": "Linux-6.18.44-fc-v1045-x86_64-with-glibc2.36", "arch": "x86_64", "cloud": {"provider": "unknown", "instance_type": null, "source": "none"}, "schema": 1, "machine_id": "cec45e22cd302470"}','Intel(R) Xeon(R) Processor',2,'unknown',NULL,'2026-12-01 22:01:05.901331');
CREATE TABLE measurements (
	id INTEGER NOT NULL, 
	uid VARCHAR(64), 
	machine_id VARCHAR(64) NOT NULL, 
	workload_id VARCHAR(128) NOT NULL, 
	config_id VARCHAR(64) NOT NULL, 
	session_id INTEGER, 
	n_sims INTEGER NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	steady_s DOUBLE, 
	iqr_s DOUBLE, 
	samples JSON NOT NULL, 
	first_call_s DOUBLE, 
	peak_memory_bytes INTEGER, 
	error TEXT, 
	accuracy_z DOUBLE, 
	estimates JSON NOT NULL, 
	standard_errors JSON NOT NULL, 
	versions JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	legacy_timing BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (uid), 
	FOREIGN KEY(machine_id) REFERENCES machines (id), 
	FOREIGN KEY(workload_id) REFERENCES workloads (id), 
	FOREIGN KEY(config_id) REFERENCES configs (id), 
	FOREIGN KEY(session_id) REFERENCES tuning_sessions (id), 
	CONSTRAINT outcome CHECK (outcome IN ('complete', 'failed', 'timed_out', 'rejected'))
);
INSERT INTO "measurements" VALUES(1,'2ec905d96caf466fbd0f79beea26e398','cec45e22cd302470','european-18c752eaba39ebc6','c3cc91e3b979d418',1,5000,'tune','complete',4.33911000072839669883e-04,1.07480000224313698709e-04,'[0.0005413910002971534, 0.00032643099984852597]',4.06739900063257664442e-03,225280,NULL,1.45527853550430696927e+00,'{"price": 8.62229090774167, "delta": 0.5704410536909538, "vega": 37.430087468046914}','{"price": 0.18848048987984548, "delta": 0.008288789278278301, "vega": 1.0082266820380696}','{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 22:01:06.068844',0);
INSERT INTO "measurements" VALUES(2,'5d4585534209433783785b4593d68073','cec45e22cd302470','european-18c752eaba39ebc6','d678bec8ef431b7b',1,5000,'tune','complete',4.34895498983678407967e-04,1.20361501103616319596e-04,'[0.0005552570000872947, 0.0003145339978800621]',3.93896699824836105108e-03,36864,NULL,6.95095798024602529174e-01,'{"price": 8.796101960340328, "delta": 0.5745316337943077, "vega": 38.53217165545318}','{"price": 0.1949013466383089, "delta": 0.008319659104551078, "vega": 1.0569344515496661}','{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 22:01:06.144736',0);
INSERT INTO "measurements" VALUES(3,'876c65de006a439686621f067fc95ac0','cec45e22cd302470','european-18c752eaba39ebc6','c3cc91e3b979d418',1,5000,'tune','complete',2.72313001914881169795e-04,NULL,'[0.0003492929972708225, 0.0002792550003505312, 0.00026382900250609964, 0.00027231300191488117, 0.00026653600070858374]',NULL,NULL,NULL,NULL,'{"price": 8.62229090774167, "delta": 0.5704410536909538, "vega": 37.430087468046914}','{"price": 0.18848048987984548, "delta": 0.008288789278278301, "vega": 1.0082266820380696}','{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 22:01:06.171618',0);
INSERT INTO "measurements" VALUES(4,'69fc904a696d4f13827378188dfdfd2c','cec45e22cd302470','european-18c752eaba39ebc6','d678bec8ef431b7b',1,5000,'tune','complete',2.79142001090804114937e-04,NULL,'[0.00042565799958538264, 0.00030796400096733123, 0.0002791420010908041, 0.0002667740009201225, 0.00026870200235862285]',NULL,NULL,NULL,NULL,'{"price": 8.796101960340328, "delta": 0.5745316337943077, "vega": 38.53217165545318}','{"price": 0.1949013466383089, "delta": 0.008319659104551078, "vega": 1.0569344515496661}','{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 22:01:06.171661',0);
CREATE TABLE models (
	id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	feature_schema_version INTEGER NOT NULL, 
	trained_at DATETIME NOT NULL, 
	n_rows INTEGER NOT NULL, 
	rows_hash VARCHAR(64) NOT NULL, 
	versions JSON NOT NULL, 
	params JSON NOT NULL, 
	payload BLOB NOT NULL, 
	metrics JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE profiles (
	id INTEGER NOT NULL, 
	machine_id VARCHAR(64) NOT NULL, 
	results JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(machine_id) REFERENCES machines (id)
);
CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "schema_version" VALUES(2);
CREATE TABLE studies (
	study_id INTEGER NOT NULL, 
	study_name VARCHAR(512) NOT NULL, 
	PRIMARY KEY (study_id)
);
INSERT INTO "studies" VALUES(1,'autotune:cec45e22cd302470:european-18c752eaba39ebc6');
CREATE TABLE study_directions (
	study_direction_id INTEGER NOT NULL, 
	direction VARCHAR(8) NOT NULL, 
	study_id INTEGER NOT NULL, 
	objective INTEGER NOT NULL, 
	PRIMARY KEY (study_direction_id), 
	UNIQUE (study_id, objective), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "study_directions" VALUES(1,'MINIMIZE',1,0);
CREATE TABLE study_system_attributes (
	study_system_attribute_id INTEGER NOT NULL, 
	study_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (study_system_attribute_id), 
	UNIQUE (study_id, "key"), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
CREATE TABLE study_user_attributes (
	study_user_attribute_id INTEGER NOT NULL, 
	study_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (study_user_attribute_id), 
	UNIQUE (study_id, "key"), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
CREATE TABLE trial_heartbeats (
	trial_heartbeat_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	heartbeat DATETIME NOT NULL, 
	PRIMARY KEY (trial_heartbeat_id), 
	UNIQUE (trial_id), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
CREATE TABLE trial_intermediate_values (
	trial_intermediate_value_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	step INTEGER NOT NULL, 
	intermediate_value FLOAT, 
	intermediate_value_type VARCHAR(7) NOT NULL, 
	PRIMARY KEY (trial_intermediate_value_id), 
	UNIQUE (trial_id, step), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
CREATE TABLE trial_params (
	param_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	param_name VARCHAR(512), 
	param_value FLOAT, 
	distribution_json TEXT, 
	PRIMARY KEY (param_id), 
	UNIQUE (trial_id, param_name), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_params" VALUES(1,1,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(2,1,'executor',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial"]}}');
INSERT INTO "trial_params" VALUES(3,1,'precision',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(4,1,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(5,1,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
INSERT INTO "trial_params" VALUES(6,2,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(7,2,'executor',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial"]}}');
INSERT INTO "trial_params" VALUES(8,2,'precision',1.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(9,2,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(10,2,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
CREATE TABLE trial_system_attributes (
	trial_system_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_system_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_system_attributes" VALUES(1,1,'fixed_params','{"backend": "numpy", "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false}');
INSERT INTO "trial_system_attributes" VALUES(2,2,'fixed_params','{"backend": "numpy", "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false}');
CREATE TABLE trial_user_attributes (
	trial_user_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_user_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_user_attributes" VALUES(1,1,'session_id','1');
INSERT INTO "trial_user_attributes" VALUES(2,1,'measurement_uid','"2ec905d96caf466fbd0f79beea26e398"');
INSERT INTO "trial_user_attributes" VALUES(3,2,'session_id','1');
INSERT INTO "trial_user_attributes" VALUES(4,2,'measurement_uid','"5d4585534209433783785b4593d68073"');
CREATE TABLE trial_values (
	trial_value_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	objective INTEGER NOT NULL, 
	value FLOAT, 
	value_type VARCHAR(7) NOT NULL, 
	PRIMARY KEY (trial_value_id), 
	UNIQUE (trial_id, objective), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_values" VALUES(1,1,0,4.33911000072839669883e-04,'FINITE');
INSERT INTO "trial_values" VALUES(2,2,0,4.34895498983678407967e-04,'FINITE');
CREATE TABLE trials (
	trial_id INTEGER NOT NULL, 
	number INTEGER, 
	study_id INTEGER, 
	state VARCHAR(8) NOT NULL, 
	datetime_start DATETIME, 
	datetime_complete DATETIME, 
	PRIMARY KEY (trial_id), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "trials" VALUES(1,0,1,'COMPLETE','2026-12-01 22:01:06.028203','2026-12-01 22:01:06.089640');
INSERT INTO "trials" VALUES(2,1,1,'COMPLETE','2026-12-01 22:01:06.108511','2026-12-01 22:01:06.158084');
CREATE TABLE tuning_sessions (
	id INTEGER NOT NULL, 
	machine_id VARCHAR(64) NOT NULL, 
	workload_id VARCHAR(128) NOT NULL, 
	n_sims INTEGER NOT NULL, 
	study_name VARCHAR(256), 
	sampler VARCHAR(64), 
	status VARCHAR(32) NOT NULL, 
	budget JSON NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	best_config_id VARCHAR(64), 
	report JSON, 
	host VARCHAR(256), 
	pid INTEGER, 
	process_started DOUBLE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(machine_id) REFERENCES machines (id), 
	FOREIGN KEY(workload_id) REFERENCES workloads (id), 
	FOREIGN KEY(best_config_id) REFERENCES configs (id)
);
INSERT INTO "tuning_sessions" VALUES(1,'cec45e22cd302470','european-18c752eaba39ebc6',5000,'autotune:cec45e22cd302470:european-18c752eaba39ebc6','brute','complete','{"trials": null, "seconds": null}','2026-12-01 22:01:05.917862','2026-12-01 22:01:06.175206','c3cc91e3b979d418','{"best_config": {"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false, "antithetic": false, "control_variate": false, "method": "mc", "discretisation": "moments"}, "best_time_s": 0.00027231300191488117, "default_time_s": 0.00027231300191488117, "speedup_over_default": 1.0, "speedup_over_worst": 1.0022688959502604, "trials": 2, "outcomes": {"complete": 2}, "seconds": 0.613970722999511, "sampler": "brute", "study_name": "autotune:cec45e22cd302470:european-18c752eaba39ebc6", "session_id": 1, "machine_id": "cec45e22cd302470", "workload_key": "european-18c752eaba39ebc6", "n_sims": 5000, "space_size": 2, "configs_examined": 2, "configs_measured": 2, "configs_failed": 0, "configs_skipped": 0, "coverage": 1.0, "finalists": [[{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false, "antithetic": false, "control_variate": false, "method": "mc", "discretisation": "moments"}, 0.00027231300191488117], [{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false, "antithetic": false, "control_variate": false, "method": "mc", "discretisation": "moments"}, 0.0002791420010908041]], "history": [[1, 0.5407701209987863, 0.00043391100007283967], [2, 0.6056564710015664, 0.00043391100007283967]]}','vm',20024,1796162463.25);
CREATE TABLE version_info (
	version_info_id INTEGER NOT NULL, 
	schema_version INTEGER, 
	library_version VARCHAR(256), 
	PRIMARY KEY (version_info_id), 
	CHECK (version_info_id=1)
);
INSERT INTO "version_info" VALUES(1,12,'5.0.0');
CREATE TABLE workloads (
	id VARCHAR(128) NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	spec JSON NOT NULL, 
	features JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "workloads" VALUES('european-18c752eaba39ebc6','european','{"kind": "european", "params": {"K": 100.0, "S0": 100.0, "T": 1.0, "kind": "call", "q": 0.0, "r": 0.02, "sigma": 0.2}}','{"is_european": 1.0, "is_asian": 0.0, "is_portfolio": 0.0, "log10_n_sims": 3.6989700043360187, "n_steps": 1.0, "log10_steps": 0.0, "log10_policies": 0.0, "groups": 0.0, "log10_expected_claims": 0.0, "pooled_fraction": 0.0, "freq_poisson": 0.0, "freq_negative_binomial": 0.0, "freq_binomial": 0.0, "sev_gamma": 0.0, "sev_lognormal": 0.0, "sev_pareto": 0.0, "sev_exponential": 0.0, "sev_weibull": 0.0, "has_aggregate_terms": 0.0, "log10_draws_per_sim": 0.3010299956639812, "log10_bytes_per_sim": 1.806179973983887, "log10_total_draws": 3.6989700043360187}','2026-12-01 22:01:05.904069');
CREATE INDEX ix_models_name ON models (name);
CREATE INDEX ix_measurements_machine_workload_status ON measurements (machine_id, workload_id, outcome);
CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name);
CREATE INDEX ix_trials_study_id ON trials (study_id);
COMMIT;
