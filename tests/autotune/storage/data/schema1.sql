-- A results database written by autotune at schema version 1 (commit f42937f): 2 tuning sessions
-- (a European call and a portfolio) and 6 online tuned_simulate rows. Made by `sqlite3 .dump`.
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
INSERT INTO "configs" VALUES('c3cc91e3b979d418','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}','numpy','serial',1,'float64',NULL,0,0);
INSERT INTO "configs" VALUES('d678bec8ef431b7b','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}','numpy','serial',1,'float32',NULL,0,0);
INSERT INTO "configs" VALUES('b2b8ea0e000ca89c','{"backend": "numpy", "workers": 2, "executor": "threads", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}','numpy','threads',2,'float64',NULL,0,0);
INSERT INTO "configs" VALUES('beaed6c2dc1912c2','{"backend": "numpy", "workers": 2, "executor": "threads", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}','numpy','threads',2,'float32',NULL,0,0);
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
INSERT INTO "machines" VALUES('cec45e22cd302470','{"cpu_vendor": "GenuineIntel", "cpu_model": "Intel(R) Xeon(R) Processor", "physical_cores": 2, "logical_cores": 2, "usable_cores": 2, "affinity": [0, 1], "cpu_quota": null, "freq_max_mhz": null, "freq_current_mhz": 2600.0, "l1d_bytes": 49152, "l2_bytes": 2097152, "l3_bytes": 503316480, "isa_avx2": true, "isa_avx512f": true, "isa_fma": true, "isa_neon": false, "isa_sse4_2": true, "memory_total_bytes": 25275990016, "memory_available_bytes": 24640462848, "memory_limit_bytes": null, "gpu_platform": null, "gpu_kind": null, "gpu_count": 0, "gpu_memory_bytes": null, "blas_vendor": "libscipy_openblas", "blas_internal_api": "openblas", "blas_threads": 2, "blas_version": "0.3.30", "python_version": "3.11.7", "numpy_version": "2.4.6", "numba_version": "0.68.1", "jax_version": "0.10.2", "os_system": "Linux", "os_release": "6.18.44-fc-v1045", "os_platform": "Linux-6.18.44-fc-v1045-x86_64-with-glibc2.36", "arch": "x86_64", "cloud": {"provider": "unknown", "instance_type": null, "source": "none"}, "schema": 1, "machine_id": "cec45e22cd302470"}','Intel(R) Xeon(R) Processor',2,'unknown',NULL,'2026-12-01 15:12:43.491857');
CREATE TABLE measurements (
	id INTEGER NOT NULL, 
	uid VARCHAR(64), 
	machine_id VARCHAR(64) NOT NULL, 
	workload_id VARCHAR(128) NOT NULL, 
	config_id VARCHAR(64) NOT NULL, 
	session_id INTEGER, 
	n_sims INTEGER NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	median_s DOUBLE, 
	iqr_s DOUBLE, 
	samples JSON NOT NULL, 
	compile_s DOUBLE, 
	first_call_s DOUBLE, 
	peak_memory_bytes INTEGER, 
	error TEXT, 
	accuracy_z DOUBLE, 
	estimate DOUBLE, 
	stderr DOUBLE, 
	versions JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (uid), 
	FOREIGN KEY(machine_id) REFERENCES machines (id), 
	FOREIGN KEY(workload_id) REFERENCES workloads (id), 
	FOREIGN KEY(config_id) REFERENCES configs (id), 
	FOREIGN KEY(session_id) REFERENCES tuning_sessions (id), 
	CONSTRAINT outcome CHECK (status IN ('complete', 'failed', 'timed_out', 'rejected'))
);
INSERT INTO "measurements" VALUES(1,'e488e309ce8b45a2befd4733e5723b32','cec45e22cd302470','european-ac5e881945079166','c3cc91e3b979d418',1,5000,'tune','complete',2.06942999966486240737e-04,3.3861499900922353845e-05,'[0.0004188359999943714, 0.00026254899989908154, 0.0002375589999701333, 0.00021939299995210604, 0.0002126949999592398, 0.0002233199999182034, 0.00020033500004501548, 0.00035291799997594353, 0.00020694299996648624, 0.0001988580000897855, 0.00019921299997349706, 0.00019071899998834851, 0.00019165499998052837, 0.00019251399999120622, 0.0001942979999967065]',1.92928000046777015086e-04,6.44278200002190715167e-03,16384,NULL,5.28371308716450660547e-01,9.12877721545951281711e+00,1.91726435376403381294e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.568232');
INSERT INTO "measurements" VALUES(2,'299c829c776f46a7882c0642b2bbb8cd','cec45e22cd302470','european-ac5e881945079166','d678bec8ef431b7b',1,5000,'tune','complete',2.10790000096494622994e-04,3.10844999944492883514e-05,'[0.0004345639999883133, 0.00035915199998726166, 0.00023367999995116406, 0.0002121369999485978, 0.0002119939999829512, 0.0002587599999515078, 0.0002365010000175971, 0.00021079000009649462, 0.00020636400006424083, 0.0002042219999793815, 0.00020379000000048109, 0.0002025910000611475, 0.00020285400000830123, 0.00020232999997915613, 0.00020561799999541108]',1.68250000001535227056e-04,4.83830300004228774923e-03,0,NULL,2.58803248892967296956e-01,9.27352040810627,2.01177103888578179269e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.602642');
INSERT INTO "measurements" VALUES(3,'ae08c0888b844cb1b0ae3e203330b133','cec45e22cd302470','european-ac5e881945079166','b2b8ea0e000ca89c',1,5000,'tune','complete',1.52847800006838951958e-03,2.87135199994281720137e-03,'[0.0010199800000236792, 0.0015284780000683895, 0.0038913319999664964, 0.0005624880000141275, 0.003956238000000667]',1.75829999989218777045e-04,9.33917999998357117874e-03,262144,NULL,5.28371308716450660547e-01,9.12877721545951281711e+00,1.91726435376403381294e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.649675');
INSERT INTO "measurements" VALUES(4,'7c2c621ba77442ac8cd08fa7f8591c5b','cec45e22cd302470','european-ac5e881945079166','beaed6c2dc1912c2',1,5000,'tune','complete',6.45139999960520071908e-04,1.92403000028207316063e-04,'[0.0014127580000149464, 0.0006451399999605201, 0.0006336679999776607, 0.0005424600000196733, 0.0004203490000236343, 0.0005070619999969495, 0.0007223480000675409, 0.0007348630000478806, 0.006362136999996437]',1.4909900005477538798e-04,6.62010899998222157591e-03,0,NULL,2.58803248892967296956e-01,9.27352040810627,2.01177103888578179269e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.696074');
INSERT INTO "measurements" VALUES(5,'2abbb6ea8cc54f1f8fb99e579552207a','cec45e22cd302470','european-ac5e881945079166','c3cc91e3b979d418',1,5000,'tune','complete',0.000350129000025845,NULL,'[0.000373767999917618, 0.000350129000025845, 0.0003910560000122132, 0.0003112660000397227, 0.0002347040000358902]',NULL,NULL,NULL,NULL,NULL,NULL,NULL,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.729378');
INSERT INTO "measurements" VALUES(6,'6ef84f72bff14a28bfaa7d3ecd53a1ee','cec45e22cd302470','european-ac5e881945079166','d678bec8ef431b7b',1,5000,'tune','complete',3.22878000019954924937e-04,NULL,'[0.0003402040000537454, 0.0002498470000773523, 0.0003228780000199549, 0.00042145899999468384, 0.0002577799999698982]',NULL,NULL,NULL,NULL,NULL,NULL,NULL,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.730473');
INSERT INTO "measurements" VALUES(7,'b3f32313cfb04bdb9c177f27dc5cf4a0','cec45e22cd302470','european-ac5e881945079166','beaed6c2dc1912c2',1,5000,'tune','complete',2.7321219999976165127e-03,NULL,'[0.003726636999999755, 0.0006800649999831876, 0.0027321219999976165, 0.003954776000000493, 0.0005651550000038696]',NULL,NULL,NULL,NULL,NULL,NULL,NULL,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.730990');
INSERT INTO "measurements" VALUES(8,'174bb9b8faec442b92a93c309a582d66','cec45e22cd302470','portfolio-1451ce83b6d2892e','c3cc91e3b979d418',2,2000,'tune','complete',0.000627226000005976,1.34149999951205245452e-04,'[0.0009068959999467552, 0.0006845199999361284, 0.0006539030000567436, 0.0007992150000291076, 0.0006620289999546003, 0.000627226000005976, 0.0005823120000059134, 0.0006171439999889117, 0.0006808000000546599, 0.0006281450000642508, 0.0005453160000570278, 0.0005292130000498219, 0.0005107929999894623, 0.0005088530000421088, 0.0005120659999420241]',2.0893600003546453081e-04,4.02193799993710854323e-03,20480,NULL,7.14806476420612235678e-01,8.15674167671559644052e+03,1.25816450172879697785e+02,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.832303');
INSERT INTO "measurements" VALUES(9,'4bec966eec584f43ab0ef4c9e441b3c2','cec45e22cd302470','portfolio-1451ce83b6d2892e','d678bec8ef431b7b',2,2000,'tune','complete',6.73487999961253080982e-04,9.25475000030928640626e-05,'[0.0009748549999812894, 0.0006833250000681801, 0.0006684120000954863, 0.0006231119999711154, 0.0007399380000379097, 0.0007613090000404554, 0.0007740279999097766, 0.00067983799999638, 0.0006734879999612531, 0.0006206939999628958, 0.0006424249999099629, 0.0006991789999801767, 0.0006309100000407852, 0.0005704789999754212, 0.0005789049999975759]',1.69879000054606876801e-04,4.33953300000666786218e-03,40960,NULL,0.813945998889637,8.07889637199401840911e+03,1.22895416347037226504e+02,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.875054');
INSERT INTO "measurements" VALUES(10,'15f96c798b224d98a8c996e805d71d14','cec45e22cd302470','portfolio-1451ce83b6d2892e','c3cc91e3b979d418',2,2000,'tune','complete',0.000601571999936823,NULL,'[0.0006742560000247977, 0.0005999050000582429, 0.0006442359999709879, 0.000601571999936823, 0.0005236650000597365]',NULL,NULL,NULL,NULL,NULL,NULL,NULL,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.895154');
INSERT INTO "measurements" VALUES(11,'897a19a0d7fc4bf5927ffac4b6990036','cec45e22cd302470','portfolio-1451ce83b6d2892e','d678bec8ef431b7b',2,2000,'tune','complete',5.86398999985249247401e-04,NULL,'[0.0006448000000318643, 0.0005843400000458132, 0.0006591260000732291, 0.0005863989999852492, 0.0005137089999607269]',NULL,NULL,NULL,NULL,NULL,NULL,NULL,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.896174');
INSERT INTO "measurements" VALUES(12,'cdcc57e21e9e4193a8f4e432c5d792a8','cec45e22cd302470','european-ac5e881945079166','c3cc91e3b979d418',NULL,5000,'online','complete',4.15828999962286616209e-04,NULL,'[0.0004158289999622866]',9.83610000275803e-05,5.14189999989866919349e-04,NULL,NULL,NULL,9.72379724793206889899e+00,2.03436328382083614352e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.914744');
INSERT INTO "measurements" VALUES(13,'4e4b019c6dd44694a7e1614b8ce98198','cec45e22cd302470','portfolio-1451ce83b6d2892e','c3cc91e3b979d418',NULL,2000,'online','complete',5.42953399997259111842e-03,NULL,'[0.005429533999972591]',1.36945000008381612133e-04,5.56647899998097273055e-03,NULL,NULL,NULL,7.86249381679115049315e+03,1.21300000674538367207e+02,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.920582');
INSERT INTO "measurements" VALUES(14,'66dc7b96d9164935b7b05798d2b8be80','cec45e22cd302470','european-ac5e881945079166','c3cc91e3b979d418',NULL,5000,'online','complete',2.82938599991666706046e-03,NULL,'[0.002829385999916667]',0.000137218000077155,2.9666039999938220717e-03,NULL,NULL,NULL,9.61098473357500893143e+00,2.00757199453724194393e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.921369');
INSERT INTO "measurements" VALUES(15,'f5cb6d331ffe40c49b5d55a59f1b6fc3','cec45e22cd302470','portfolio-1451ce83b6d2892e','c3cc91e3b979d418',NULL,2000,'online','complete',0.00540215499995611,NULL,'[0.00540215499995611]',1.08032000071034417487e-04,5.510187000027144677e-03,NULL,NULL,NULL,8.48151487885256756289e+03,1.26825711469907588481e+02,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.923469');
INSERT INTO "measurements" VALUES(16,'f86e3609a73041feb5cf2d394e3b415b','cec45e22cd302470','european-ac5e881945079166','c3cc91e3b979d418',NULL,5000,'online','complete',1.84484500005055451765e-03,NULL,'[0.0018448450000505545]',9.97569999299230403266e-05,1.94460199998047755798e-03,NULL,NULL,NULL,9.64522052375448701866e+00,2.03962392463124725372e-01,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.925463');
INSERT INTO "measurements" VALUES(17,'aba1728344db47dabce8ecdfc3a97664','cec45e22cd302470','portfolio-1451ce83b6d2892e','c3cc91e3b979d418',NULL,2000,'online','complete',6.85210999904484197031e-04,NULL,'[0.0006852109999044842]',7.52460000512655824422e-05,7.60456999955749779473e-04,NULL,NULL,NULL,8.23465762806525708623e+03,1.28785753421321800258e+02,'{"autotune": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "jax": "0.10.2"}','2026-12-01 15:12:43.926154');
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
INSERT INTO "schema_version" VALUES(1);
CREATE TABLE studies (
	study_id INTEGER NOT NULL, 
	study_name VARCHAR(512) NOT NULL, 
	PRIMARY KEY (study_id)
);
INSERT INTO "studies" VALUES(1,'autotune:cec45e22cd302470:european-ac5e881945079166');
INSERT INTO "studies" VALUES(2,'autotune:cec45e22cd302470:portfolio-1451ce83b6d2892e');
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
INSERT INTO "study_directions" VALUES(2,'MINIMIZE',2,0);
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
INSERT INTO "trial_params" VALUES(2,1,'executor',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial", "threads"]}}');
INSERT INTO "trial_params" VALUES(3,1,'precision',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(4,1,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(5,1,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
INSERT INTO "trial_params" VALUES(6,2,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(7,2,'executor',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial", "threads"]}}');
INSERT INTO "trial_params" VALUES(8,2,'precision',1.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(9,2,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(10,2,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
INSERT INTO "trial_params" VALUES(11,3,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(12,3,'executor',1.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial", "threads"]}}');
INSERT INTO "trial_params" VALUES(13,3,'workers',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [2]}}');
INSERT INTO "trial_params" VALUES(14,3,'precision',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(15,3,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(16,3,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
INSERT INTO "trial_params" VALUES(17,4,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(18,4,'executor',1.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial", "threads"]}}');
INSERT INTO "trial_params" VALUES(19,4,'workers',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [2]}}');
INSERT INTO "trial_params" VALUES(20,4,'precision',1.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(21,4,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(22,4,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
INSERT INTO "trial_params" VALUES(23,5,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(24,5,'executor',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial"]}}');
INSERT INTO "trial_params" VALUES(25,5,'precision',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(26,5,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(27,5,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
INSERT INTO "trial_params" VALUES(28,6,'backend',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["numpy"]}}');
INSERT INTO "trial_params" VALUES(29,6,'executor',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["serial"]}}');
INSERT INTO "trial_params" VALUES(30,6,'precision',1.0,'{"name": "CategoricalDistribution", "attributes": {"choices": ["float64", "float32"]}}');
INSERT INTO "trial_params" VALUES(31,6,'chunk_size',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [null]}}');
INSERT INTO "trial_params" VALUES(32,6,'qmc',0.0,'{"name": "CategoricalDistribution", "attributes": {"choices": [false]}}');
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
INSERT INTO "trial_system_attributes" VALUES(3,3,'fixed_params','{"backend": "numpy", "executor": "threads", "precision": "float64", "chunk_size": null, "qmc": false, "workers": 2}');
INSERT INTO "trial_system_attributes" VALUES(4,4,'fixed_params','{"backend": "numpy", "executor": "threads", "precision": "float32", "chunk_size": null, "qmc": false, "workers": 2}');
INSERT INTO "trial_system_attributes" VALUES(5,5,'fixed_params','{"backend": "numpy", "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false}');
INSERT INTO "trial_system_attributes" VALUES(6,6,'fixed_params','{"backend": "numpy", "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false}');
CREATE TABLE trial_user_attributes (
	trial_user_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_user_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_user_attributes" VALUES(1,1,'config','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}');
INSERT INTO "trial_user_attributes" VALUES(2,1,'config_id','"c3cc91e3b979d418"');
INSERT INTO "trial_user_attributes" VALUES(3,1,'outcome','"complete"');
INSERT INTO "trial_user_attributes" VALUES(4,2,'config','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}');
INSERT INTO "trial_user_attributes" VALUES(5,2,'config_id','"d678bec8ef431b7b"');
INSERT INTO "trial_user_attributes" VALUES(6,2,'outcome','"complete"');
INSERT INTO "trial_user_attributes" VALUES(7,3,'config','{"backend": "numpy", "workers": 2, "executor": "threads", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}');
INSERT INTO "trial_user_attributes" VALUES(8,3,'config_id','"b2b8ea0e000ca89c"');
INSERT INTO "trial_user_attributes" VALUES(9,3,'outcome','"complete"');
INSERT INTO "trial_user_attributes" VALUES(10,4,'config','{"backend": "numpy", "workers": 2, "executor": "threads", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}');
INSERT INTO "trial_user_attributes" VALUES(11,4,'config_id','"beaed6c2dc1912c2"');
INSERT INTO "trial_user_attributes" VALUES(12,4,'outcome','"complete"');
INSERT INTO "trial_user_attributes" VALUES(13,5,'config','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}');
INSERT INTO "trial_user_attributes" VALUES(14,5,'config_id','"c3cc91e3b979d418"');
INSERT INTO "trial_user_attributes" VALUES(15,5,'outcome','"complete"');
INSERT INTO "trial_user_attributes" VALUES(16,6,'config','{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}');
INSERT INTO "trial_user_attributes" VALUES(17,6,'config_id','"d678bec8ef431b7b"');
INSERT INTO "trial_user_attributes" VALUES(18,6,'outcome','"complete"');
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
INSERT INTO "trial_values" VALUES(1,1,0,2.06942999966486240737e-04,'FINITE');
INSERT INTO "trial_values" VALUES(2,2,0,2.10790000096494622994e-04,'FINITE');
INSERT INTO "trial_values" VALUES(3,3,0,1.52847800006838951958e-03,'FINITE');
INSERT INTO "trial_values" VALUES(4,4,0,6.45139999960520071908e-04,'FINITE');
INSERT INTO "trial_values" VALUES(5,5,0,0.000627226000005976,'FINITE');
INSERT INTO "trial_values" VALUES(6,6,0,6.73487999961253080982e-04,'FINITE');
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
INSERT INTO "trials" VALUES(1,0,1,'COMPLETE','2026-12-01 15:12:43.537561','2026-12-01 15:12:43.574429');
INSERT INTO "trials" VALUES(2,1,1,'COMPLETE','2026-12-01 15:12:43.581759','2026-12-01 15:12:43.607135');
INSERT INTO "trials" VALUES(3,2,1,'COMPLETE','2026-12-01 15:12:43.615432','2026-12-01 15:12:43.654554');
INSERT INTO "trials" VALUES(4,3,1,'COMPLETE','2026-12-01 15:12:43.661880','2026-12-01 15:12:43.701247');
INSERT INTO "trials" VALUES(5,0,2,'COMPLETE','2026-12-01 15:12:43.798870','2026-12-01 15:12:43.838248');
INSERT INTO "trials" VALUES(6,1,2,'COMPLETE','2026-12-01 15:12:43.845040','2026-12-01 15:12:43.880878');
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
	PRIMARY KEY (id), 
	FOREIGN KEY(machine_id) REFERENCES machines (id), 
	FOREIGN KEY(workload_id) REFERENCES workloads (id), 
	FOREIGN KEY(best_config_id) REFERENCES configs (id)
);
INSERT INTO "tuning_sessions" VALUES(1,'cec45e22cd302470','european-ac5e881945079166',5000,'autotune:cec45e22cd302470:european-ac5e881945079166','brute','complete','{"trials": null, "seconds": null}','2026-12-01 15:12:43.496318','2026-12-01 15:12:43.733857','c3cc91e3b979d418','{"best_config": {"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, "best_time_s": 0.000350129000025845, "default_time_s": 0.000350129000025845, "speedup_over_default": 1.0, "speedup_over_worst": 7.385985514445628, "trials": 4, "outcomes": {"complete": 4}, "seconds": 1.3720647779999808, "sampler": "brute", "study_name": "autotune:cec45e22cd302470:european-ac5e881945079166", "session_id": 1, "machine_id": "cec45e22cd302470", "workload_key": "european-ac5e881945079166", "n_sims": 5000, "finalists": [[{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, 0.0003228780000199549], [{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, 0.000350129000025845], [{"backend": "numpy", "workers": 2, "executor": "threads", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, 0.0027321219999976165]], "history": [[1, 1.2188265339999589, 0.00020694299996648624], [2, 1.250374244999989, 0.00020694299996648624], [3, 1.2981750090000332, 0.00020694299996648624], [4, 1.3453602739999724, 0.00020694299996648624]]}');
INSERT INTO "tuning_sessions" VALUES(2,'cec45e22cd302470','portfolio-1451ce83b6d2892e',2000,'autotune:cec45e22cd302470:portfolio-1451ce83b6d2892e','brute','complete','{"trials": null, "seconds": null}','2026-12-01 15:12:43.774240','2026-12-01 15:12:43.898005','c3cc91e3b979d418','{"best_config": {"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, "best_time_s": 0.000601571999936823, "default_time_s": 0.000601571999936823, "speedup_over_default": 1.0, "speedup_over_worst": 1.0737565087461878, "trials": 2, "outcomes": {"complete": 2}, "seconds": 0.1585969010000099, "sampler": "brute", "study_name": "autotune:cec45e22cd302470:portfolio-1451ce83b6d2892e", "session_id": 2, "machine_id": "cec45e22cd302470", "workload_key": "portfolio-1451ce83b6d2892e", "n_sims": 2000, "finalists": [[{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float32", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, 0.0005863989999852492], [{"backend": "numpy", "workers": 1, "executor": "serial", "precision": "float64", "chunk_size": null, "qmc": false, "qmc_scrambles": 16, "shared_memory": false}, 0.000601571999936823]], "history": [[1, 0.10381819399992764, 0.000627226000005976], [2, 0.14639363899993896, 0.000627226000005976]]}');
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
INSERT INTO "workloads" VALUES('european-ac5e881945079166','european','{"kind": "european", "params": {"K": 100.0, "S0": 100.0, "T": 1.0, "kind": "call", "q": 0.0, "r": 0.03, "sigma": 0.2}}','{"is_european": 1.0, "is_asian": 0.0, "is_portfolio": 0.0, "log10_n_sims": 3.6989700043360187, "n_steps": 1.0, "log10_steps": 0.0, "log10_policies": 0.0, "groups": 0.0, "log10_expected_claims": 0.0, "pooled_fraction": 0.0, "freq_poisson": 0.0, "freq_negative_binomial": 0.0, "freq_binomial": 0.0, "sev_gamma": 0.0, "sev_lognormal": 0.0, "sev_pareto": 0.0, "sev_exponential": 0.0, "sev_weibull": 0.0, "has_aggregate_terms": 0.0, "antithetic": 0.0, "control_variate": 0.0, "log10_draws_per_sim": 0.3010299956639812, "log10_bytes_per_sim": 1.806179973983887, "log10_total_draws": 3.6989700043360187}','2026-12-01 15:12:43.494028');
INSERT INTO "workloads" VALUES('portfolio-1451ce83b6d2892e','portfolio','{"groups": [{"frequency": {"family": "poisson", "lam": 0.1}, "n_policies": 50, "severity": {"family": "lognormal", "mu": 7.0, "sigma": 1.0}, "terms": {"aggregate_deductible": 0.0, "aggregate_limit": "inf", "deductible": 100.0, "limit": 10000.0}}], "kind": "portfolio", "levels": [0.95, 0.99, 0.995]}','{"is_european": 0.0, "is_asian": 0.0, "is_portfolio": 1.0, "log10_n_sims": 3.3010299956639813, "n_steps": 0.0, "log10_steps": 0.0, "log10_policies": 1.7075701760979363, "groups": 1.0, "log10_expected_claims": 0.7781512503836436, "pooled_fraction": 1.0, "freq_poisson": 1.0, "freq_negative_binomial": 0.0, "freq_binomial": 0.0, "sev_gamma": 0.0, "sev_lognormal": 1.0, "sev_pareto": 0.0, "sev_exponential": 0.0, "sev_weibull": 0.0, "has_aggregate_terms": 0.0, "antithetic": 0.0, "control_variate": 0.0, "log10_draws_per_sim": 0.8450980400142568, "log10_bytes_per_sim": 2.2833012287035497, "log10_total_draws": 4.079181246047625}','2026-12-01 15:12:43.772301');
CREATE INDEX ix_models_name ON models (name);
CREATE INDEX ix_measurements_machine_workload_status ON measurements (machine_id, workload_id, status);
CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name);
CREATE INDEX ix_trials_study_id ON trials (study_id);
COMMIT;
