package hdfs2s3kit.minicluster;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.server.datanode.DataNode;
import org.apache.hadoop.mapred.JobConf;
import org.apache.hadoop.mapreduce.v2.MiniMRYarnCluster;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.yarn.conf.YarnConfiguration;

/**
 * A real HDFS (and optionally YARN + MapReduce) in one JVM, for hdfs2s3kit's tests and
 * `make minicluster`. Test infrastructure only.
 *
 * <pre>
 * java -cp target/classes:target/lib/* hdfs2s3kit.minicluster.MiniCluster --dir DIR [--datanodes 2]
 *      [--no-yarn] [--nn-port 0] [--client-classpath CP] [--node-env NAME,NAME...] [--kerberos]
 * </pre>
 *
 * DIR gets conf/ (core-site, hdfs-site, yarn-site, mapred-site, log4j.properties: what a client needs),
 * bin/hadoop (FsShell and RunJar on that config) and data/. When the cluster is up, one line
 * {@code READY {json}} goes to stdout; then stdin takes one command per line and answers
 * {@code OK ...} or {@code ERR ...} (see {@link #command}). EOF on stdin or SIGTERM stops it cleanly.
 * Logs go to stderr.
 *
 * Everything binds to 127.0.0.1. Permissions are on, groups come from the host's shell (`id`), and the
 * launching user is the HDFS superuser (the NameNode's user), as on a real installation.
 *
 * <p>{@code --kerberos}: a secure HDFS (no YARN). A MiniKdc (Apache Kerby) in this JVM, realm
 * EXAMPLE.COM on localhost; the NameNode and DataNodes log in as {@code hdfs/localhost} from a
 * keytab (so the superuser is {@code hdfs}), block access tokens on, SASL on data transfer
 * ({@code authentication}) without privileged ports ({@code ignore.secure.ports.for.testing}).
 * conf/krb5.conf is the KDC's krb5.conf for clients (bin/hadoop passes it to Java; MIT tools
 * take it as KRB5_CONFIG); {@code add-principal} makes a user's principal and keytab.
 */
public final class MiniCluster {
  /** Variables the NodeManager hands to containers from its own environment: on a real node the
   *  credential chain is the node's (instance profile); here it is the launcher's environment. */
  static final String NODE_ENV = "AWS_ENDPOINT_URL,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_SESSION_TOKEN,"
      + "AWS_REGION,AWS_DEFAULT_REGION,AWS_EC2_METADATA_DISABLED,AWS_CONFIG_FILE,AWS_SHARED_CREDENTIALS_FILE,"
      + "AWS_CA_BUNDLE,HADOOP_CMD";
  static final String LOOPBACK = "127.0.0.1";

  private final Options opts;
  private MiniDFSCluster dfs;
  private MiniMRYarnCluster yarn;
  private final List<Integer> dnPorts = new ArrayList<>();           // stable index -> xfer port
  private final Map<Integer, MiniDFSCluster.DataNodeProperties> stopped = new TreeMap<>();
  private volatile boolean down;
  private MiniKdc kdc;
  private String realm;
  private File serviceKeytab;

  static final class Options {
    File dir;
    int datanodes = 2;
    boolean yarn = true;
    int nnPort = 0;
    String clientClasspath;
    String nodeEnv = NODE_ENV;
    boolean kerberos;
  }

  MiniCluster(Options opts) {
    this.opts = opts;
  }

  public static void main(String[] args) throws Exception {
    Options o;
    try {
      o = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("minicluster: " + e.getMessage());
      System.exit(2);
      return;
    }
    PrintStream out = new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
    // Hadoop's own code prints to System.out in places; keep stdout for the protocol.
    System.setOut(System.err);
    // chmod in this JVM for the daemons' local file system (NioChmodLocalFs says why).
    Configuration.addDefaultResource("hdfs2s3kit-launcher-default.xml");
    long t0 = System.nanoTime();
    MiniCluster mc = new MiniCluster(o);
    Runtime.getRuntime().addShutdownHook(new Thread(mc::stop, "minicluster-stop"));
    try {
      mc.start();
    } catch (Throwable e) {
      System.err.println("minicluster: start failed: " + e);
      e.printStackTrace();
      mc.stop();
      System.exit(69);  // Hadoop leaves non-daemon threads behind: exit, never hang half-started
    }
    System.err.printf("minicluster: up in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    out.println("READY " + mc.readyJson());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      if (line.trim().equals("quit")) {
        break;
      }
      String reply;
      try {
        // Tab-separated when a word has spaces (paths); else split on white space.
        reply = "OK" + mc.command(line.indexOf('\t') >= 0 ? line.split("\t") : line.trim().split("\\s+"));
      } catch (Exception e) {
        String msg = String.valueOf(e.getMessage());
        reply = "ERR " + e.getClass().getSimpleName() + ": " + msg.split("\n", 2)[0].trim();
      }
      out.println(reply);
    }
    mc.stop();
    out.println("STOPPED");
    System.exit(0);
  }

  static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--dir": o.dir = new File(value(args, ++i, a)).getAbsoluteFile(); break;
        case "--datanodes": o.datanodes = Integer.parseInt(value(args, ++i, a)); break;
        case "--no-yarn": o.yarn = false; break;
        case "--nn-port": o.nnPort = Integer.parseInt(value(args, ++i, a)); break;
        case "--client-classpath": o.clientClasspath = value(args, ++i, a); break;
        case "--node-env": o.nodeEnv = value(args, ++i, a); break;
        case "--kerberos": o.kerberos = true; break;
        default: throw new IllegalArgumentException("unknown option " + a);
      }
    }
    if (o.dir == null) {
      throw new IllegalArgumentException("--dir DIR is required");
    }
    if (o.kerberos) {
      o.yarn = false;   // the Kerberos mode is HDFS only (a secure YARN would need the LinuxContainerExecutor)
    }
    if (o.datanodes < 1) {
      throw new IllegalArgumentException("--datanodes must be at least 1");
    }
    return o;
  }

  private static String value(String[] args, int i, String name) {
    if (i >= args.length) {
      throw new IllegalArgumentException(name + " needs a value");
    }
    return args[i];
  }

  /** Settings every daemon and client of this cluster shares (they go into the written config). */
  Configuration baseConf() {
    Configuration conf = new HdfsConfiguration();
    File data = new File(opts.dir, "data");
    conf.set("hadoop.tmp.dir", new File(data, "tmp").getPath());
    conf.setBoolean("dfs.permissions.enabled", true);
    conf.setBoolean("dfs.namenode.acls.enabled", true);
    // The host's real users and groups (the tests create them with useradd/groupadd), resolved by
    // the NameNode with `id`, like a NameNode without LDAP. Short caches: tests create users as they go.
    conf.set("hadoop.security.group.mapping", "org.apache.hadoop.security.ShellBasedUnixGroupsMapping");
    conf.setLong("hadoop.security.groups.cache.secs", 2);
    conf.setLong("hadoop.security.groups.negative-cache.secs", 0);
    // A dead DataNode should fail a read in about a second, not after the default ~10 s of back-off.
    conf.setInt("dfs.client.retry.window.base", 100);
    conf.setInt("dfs.namenode.fs-limits.min-block-size", 65536);
    conf.set("dfs.namenode.rpc-bind-host", LOOPBACK);
    if (opts.kerberos) {
      secureConf(conf);
    }
    return conf;
  }

  /** A KDC on localhost with the services' principals in one keytab (only the launcher's user
   *  reads it). Sets java.security.krb5.conf for this JVM (MiniKdc does). */
  void startKdc() throws Exception {
    File kdir = new File(opts.dir, "kdc");
    Files.createDirectories(kdir.toPath());
    Properties kc = MiniKdc.createConf();
    kc.setProperty(MiniKdc.KDC_BIND_ADDRESS, "localhost");
    // Tests ask for tickets of a few seconds to see one expire.
    kc.setProperty(MiniKdc.MIN_TICKET_LIFETIME, "1");
    kdc = new MiniKdc(kc, kdir);
    kdc.start();
    realm = kdc.getRealm();
    serviceKeytab = new File(kdir, "hdfs.keytab");
    kdc.createPrincipal(serviceKeytab, "hdfs/localhost", "HTTP/localhost");
    File confDir = new File(opts.dir, "conf");
    Files.createDirectories(confDir.toPath());
    File krb5 = new File(confDir, "krb5.conf");
    Files.copy(kdc.getKrb5conf().toPath(), krb5.toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    krb5.setReadable(true, false);
  }

  /** What a secure HDFS needs; service principals are literal (no _HOST): everything is localhost. */
  void secureConf(Configuration conf) {
    String hdfs = "hdfs/localhost@" + realm;
    conf.set("hadoop.security.authentication", "kerberos");
    conf.set("dfs.namenode.kerberos.principal", hdfs);
    conf.set("dfs.namenode.keytab.file", serviceKeytab.getPath());
    conf.set("dfs.datanode.kerberos.principal", hdfs);
    conf.set("dfs.datanode.keytab.file", serviceKeytab.getPath());
    conf.set("dfs.web.authentication.kerberos.principal", "HTTP/localhost@" + realm);
    conf.set("dfs.web.authentication.kerberos.keytab", serviceKeytab.getPath());
    conf.setBoolean("dfs.block.access.token.enable", true);
    conf.set("dfs.data.transfer.protection", "authentication");
    // SASL on data transfer instead of privileged ports (no root-started SecureDataNodeStarter),
    // and plain HTTP for the web UIs (no keystores to make).
    conf.setBoolean("ignore.secure.ports.for.testing", true);
    conf.set("dfs.http.policy", "HTTP_ONLY");
    UserGroupInformation.setConfiguration(conf);
  }

  /** Small YARN for 2 cores: AM and map containers of a few hundred MB, fast heartbeats. */
  void yarnConf(Configuration conf) {
    conf.set("yarn.resourcemanager.hostname", LOOPBACK);
    conf.set("yarn.nodemanager.hostname", LOOPBACK);
    // No fixed ports (8040, 8042, ...): two clusters on one machine must not collide.
    for (String k : new String[] {"yarn.nodemanager.localizer.address", "yarn.nodemanager.webapp.address",
        "yarn.nodemanager.collector-service.address", "yarn.resourcemanager.webapp.https.address",
        "yarn.timeline-service.address", "yarn.timeline-service.webapp.address",
        "yarn.timeline-service.reader.webapp.address", "mapreduce.jobhistory.admin.address"}) {
      conf.set(k, LOOPBACK + ":0");
    }
    conf.set("mapreduce.jobhistory.address", LOOPBACK + ":0");
    conf.setInt("yarn.nodemanager.resource.memory-mb", 3072);
    conf.setInt("yarn.nodemanager.resource.cpu-vcores", 4);
    conf.setInt("yarn.scheduler.minimum-allocation-mb", 128);
    conf.setInt("yarn.scheduler.maximum-allocation-mb", 1024);
    // A Python mapper beside its task JVM exceeds any small container's memory check: check nothing.
    conf.setBoolean("yarn.nodemanager.pmem-check-enabled", false);
    conf.setBoolean("yarn.nodemanager.vmem-check-enabled", false);
    conf.setBoolean("yarn.nodemanager.disk-health-checker.enable", false);
    conf.setFloat("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", 99.9f);
    conf.setInt("yarn.resourcemanager.nodemanagers.heartbeat-interval-ms", 200);
    conf.setInt("yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms", 200);
    conf.setInt("mapreduce.client.progressmonitor.pollinterval", 200);
    conf.setInt("yarn.app.mapreduce.am.resource.mb", 384);
    String jvm = " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto";
    conf.set("yarn.app.mapreduce.am.command-opts", "-Xmx256m" + jvm);
    conf.setInt("mapreduce.map.memory.mb", 256);
    conf.set("mapreduce.map.java.opts", "-Xmx160m" + jvm);
    conf.setInt("mapreduce.reduce.memory.mb", 256);
    conf.set("mapreduce.reduce.java.opts", "-Xmx160m" + jvm);
    conf.setInt("mapreduce.task.io.sort.mb", 16);
    // Container logs (a failed mapper's stderr) stay until the cluster stops.
    conf.setInt("yarn.nodemanager.delete.debug-delay-sec", 3600);
    // ... and the NodeManager is done with a finished application at once: with the default retention
    // (3 h) a finished application stays in its context, and stopping the NodeManager waits
    // sleep-delay-before-sigkill + process-kill-wait + 1 s for it (~10 s at every stop after a job).
    // The deletion itself still waits the debug delay above, so the logs stay readable.
    conf.setLong("yarn.nodemanager.log.retain-seconds", 0);
    // A killed task gets SIGTERM, then SIGKILL after this long (default 250 ms): time for the
    // mapper to abort its open multipart upload on a loaded 2-core machine (docs/HADOOP.md).
    conf.setLong("yarn.nodemanager.sleep-delay-before-sigkill.ms", 3000);
    conf.setBoolean("yarn.timeline-service.enabled", false);
    conf.set("yarn.nodemanager.env-whitelist", String.join(",",
        conf.get("yarn.nodemanager.env-whitelist", ""), "PATH", opts.nodeEnv));
  }

  void start() throws Exception {
    File data = new File(opts.dir, "data");
    // MiniMRYarnCluster keeps its work folders under test.build.data (default: ./target/test/data).
    System.setProperty("test.build.data", new File(data, "yarn").getPath());
    Files.createDirectories(new File(opts.dir, "conf").toPath());
    if (opts.kerberos) {
      startKdc();
    }
    Configuration conf = baseConf();
    dfs = new MiniDFSCluster.Builder(conf, new File(data, "dfs"))
        .numDataNodes(opts.datanodes)
        .nameNodePort(opts.nnPort)
        .build();
    dfs.waitActive();
    for (DataNode dn : dfs.getDataNodes()) {
      dnPorts.add(dn.getXferPort());
    }
    DistributedFileSystem fs = dfs.getFileSystem();
    // Like a fresh installation: /tmp for everyone (sticky), /user for home folders.
    fs.mkdirs(new Path("/tmp"));
    fs.setPermission(new Path("/tmp"), new FsPermission((short) 01777));
    fs.mkdirs(new Path("/user"));
    fs.setPermission(new Path("/user"), new FsPermission((short) 0755));
    if (opts.yarn) {
      startYarn();
    } else {
      writeClientConf(dfs.getConfiguration(0));
    }
    writeHadoopScript();
  }

  /** YARN + MapReduce on the running HDFS (at start, or later with the `start-yarn` command, so a
   *  test session pays for YARN only when a test needs it). Rewrites the client config. */
  synchronized void startYarn() throws Exception {
    if (yarn != null) {
      return;
    }
    if (opts.kerberos) {
      throw new IllegalStateException("the Kerberos mode is HDFS only: no YARN");
    }
    Configuration yconf = new YarnConfiguration(new JobConf(dfs.getConfiguration(0)));
    yarnConf(yconf);
    MiniMRYarnCluster mr = new MiniMRYarnCluster("hdfs2s3kit", 1);
    mr.init(yconf);
    mr.start();
    yarn = mr;
    writeClientConf(yarn.getConfig());
  }

  /** The written config: what differs from Hadoop's defaults, split the way a client expects. */
  void writeClientConf(Configuration conf) throws IOException {
    File confDir = new File(opts.dir, "conf");
    Configuration defaults = new YarnConfiguration(new JobConf(new HdfsConfiguration()));
    Map<String, Configuration> files = new LinkedHashMap<>();
    for (String name : new String[] {"core-site", "hdfs-site", "yarn-site", "mapred-site"}) {
      files.put(name, new Configuration(false));
    }
    for (Map.Entry<String, String> e : conf) {
      String k = e.getKey();
      String v = conf.get(k);
      if (v == null || v.equals(defaults.get(k))) {
        continue;
      }
      String file = k.startsWith("dfs.") ? "hdfs-site"
          : k.startsWith("yarn.") ? "yarn-site"
          : k.startsWith("mapreduce.") || k.startsWith("mapred.") ? "mapred-site" : "core-site";
      files.get(file).set(k, v);
    }
    if (yarn == null) {
      files.get("mapred-site").set("mapreduce.framework.name", "local");
    }
    // MiniDFSCluster gives its own clients umask 000; users of this cluster get the usual 022.
    files.get("core-site").set("fs.permissions.umask-mode", "022");
    for (Map.Entry<String, Configuration> f : files.entrySet()) {
      // Written aside and renamed: a client starting meanwhile reads the old file or the new one.
      File tmp = new File(confDir, "." + f.getKey() + ".xml.tmp");
      try (OutputStream os = new FileOutputStream(tmp)) {
        f.getValue().writeXml(os);
      }
      Files.move(tmp.toPath(), new File(confDir, f.getKey() + ".xml").toPath(),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
    try (InputStream log = MiniCluster.class.getResourceAsStream("/client-log4j.properties")) {
      Files.copy(log, new File(confDir, "log4j.properties").toPath(),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** bin/hadoop: `hadoop fs ...` (FsShell) and `hadoop jar ...` (RunJar) on this cluster's config. */
  void writeHadoopScript() throws IOException {
    File confDir = new File(opts.dir, "conf");
    File bin = new File(opts.dir, "bin");
    Files.createDirectories(bin.toPath());
    String cp = opts.clientClasspath != null ? opts.clientClasspath : System.getProperty("java.class.path");
    String java = new File(System.getProperty("java.home"), "bin/java").getPath();
    String script = "#!/bin/bash\n"
        + "# hadoop (written by the hdfs2s3kit test mini cluster): FsShell and RunJar on its config.\n"
        // Always this cluster's config: inside a YARN container HADOOP_CONF_DIR may name another.
        + "conf=" + sh(confDir.getPath()) + "\n"
        + "cp=" + sh(cp) + "\n"
        + "java=" + sh(java) + "\n"
        + "opts=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -XX:-UsePerfData"
        // Java reads /etc/krb5.conf unless told: this cluster's KDC is in conf/krb5.conf.
        + (opts.kerberos ? " -Djava.security.krb5.conf=" + sh(new File(confDir, "krb5.conf").getPath()) : "")
        + " $HADOOP_CLIENT_OPTS)\n"
        + "case \"$1\" in\n"
        + "  fs|dfs) shift; exec \"$java\" \"${opts[@]}\" -cp \"$conf:$cp\" org.apache.hadoop.fs.FsShell \"$@\" ;;\n"
        + "  jar) shift; exec \"$java\" \"${opts[@]}\" -cp \"$conf:$cp\" org.apache.hadoop.util.RunJar \"$@\" ;;\n"
        + "  job) shift; exec \"$java\" \"${opts[@]}\" -cp \"$conf:$cp\" org.apache.hadoop.mapred.JobClient \"$@\" ;;\n"
        + "  fetchdt) shift; exec \"$java\" \"${opts[@]}\" -cp \"$conf:$cp\" org.apache.hadoop.hdfs.tools.DelegationTokenFetcher \"$@\" ;;\n"
        // dtutil writes token files in the protobuf form (fetchdt: the Writable one)
        + "  dtutil) shift; exec \"$java\" \"${opts[@]}\" -cp \"$conf:$cp\" org.apache.hadoop.security.token.DtUtilShell \"$@\" ;;\n"
        + "  classpath) echo \"$conf:$cp\" ;;\n"
        + "  version) exec \"$java\" \"${opts[@]}\" -cp \"$conf:$cp\" org.apache.hadoop.util.VersionInfo ;;\n"
        + "  *) echo \"usage: hadoop fs|jar|job|fetchdt|dtutil|classpath|version ...\" >&2; exit 1 ;;\n"
        + "esac\n";
    File f = new File(bin, "hadoop");
    Files.write(f.toPath(), script.getBytes(StandardCharsets.UTF_8));
    f.setExecutable(true, false);
    f.setReadable(true, false);
  }

  private static String sh(String s) {
    return "'" + s.replace("'", "'\\''") + "'";
  }

  String readyJson() {
    StringBuilder sb = new StringBuilder("{");
    sb.append("\"dir\":").append(json(opts.dir.getPath()));
    sb.append(",\"conf_dir\":").append(json(new File(opts.dir, "conf").getPath()));
    sb.append(",\"hadoop\":").append(json(new File(opts.dir, "bin/hadoop").getPath()));
    sb.append(",\"fs\":").append(json(dfs.getURI().toString()));
    sb.append(",\"datanodes\":").append(dnPorts.size());
    sb.append(",\"user\":").append(json(System.getProperty("user.name")));
    sb.append(",\"yarn\":").append(yarn != null);
    sb.append(",\"kerberos\":").append(opts.kerberos);
    if (opts.kerberos) {
      sb.append(",\"realm\":").append(json(realm));
      sb.append(",\"krb5_conf\":").append(json(new File(opts.dir, "conf/krb5.conf").getPath()));
      sb.append(",\"kdc_port\":").append(kdc.getPort());
      sb.append(",\"service_principal\":").append(json("hdfs/localhost@" + realm));
    }
    if (yarn != null) {
      sb.append(",\"rm\":").append(json(yarn.getConfig().get("yarn.resourcemanager.address")));
    }
    return sb.append("}").toString();
  }

  private static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private int index(String s) {
    int i = Integer.parseInt(s);
    if (i < 0 || i >= dnPorts.size()) {
      throw new IllegalArgumentException("no DataNode " + s + " (0.." + (dnPorts.size() - 1) + ")");
    }
    return i;
  }

  /** Current position in dfs.getDataNodes() of the DataNode with stable index i (stopping shifts them). */
  private int position(int i) {
    List<DataNode> dns = dfs.getDataNodes();
    for (int p = 0; p < dns.size(); p++) {
      if (dns.get(p).getXferPort() == dnPorts.get(i)) {
        return p;
      }
    }
    throw new IllegalStateException("DataNode " + i + " is not running");
  }

  /**
   * One stdin command; the result is appended to "OK".
   * <ul>
   * <li>{@code stop-datanode N}, {@code restart-datanode N} (N is stable: 0..datanodes-1)</li>
   * <li>{@code put-on N LOCAL PATH}: copy a local file to PATH with one replica, on DataNode N only,
   *     1 MiB blocks (so a test can take the only copy away mid-read)</li>
   * <li>{@code locate PATH}: the DataNodes holding PATH's blocks ({@code OK 0,1})</li>
   * <li>{@code start-yarn}: YARN + MapReduce now (answers the ResourceManager's address)</li>
   * <li>{@code fs ARGS...}: `hadoop fs ARGS` in this JVM as the superuser (set-up for tests)</li>
   * <li>{@code add-principal NAME KEYTAB} (Kerberos mode): principal NAME@REALM with a random key,
   *     written to KEYTAB (answers the principal)</li>
   * <li>{@code ping}</li>
   * </ul>
   */
  synchronized String command(String[] a) throws Exception {
    switch (a[0]) {
      case "ping":
        return "";
      case "add-principal": {
        if (kdc == null) {
          throw new IllegalStateException("not a Kerberos cluster (--kerberos)");
        }
        kdc.createPrincipal(new File(a[2]), a[1]);
        return " " + a[1] + "@" + realm;
      }
      case "start-yarn":
        startYarn();
        return " " + yarn.getConfig().get("yarn.resourcemanager.address");
      case "fs": {
        // FsShell in this JVM, as the superuser: test set-up without a JVM start per step.
        String[] args = java.util.Arrays.copyOfRange(a, 1, a.length);
        // Through ToolRunner, so generic options work (-Ddfs.checksum.type=CRC32 -put ...); with a
        // client of its own (the cached one would ignore them).
        Configuration c = new Configuration(dfs.getConfiguration(0));
        c.setBoolean("fs.hdfs.impl.disable.cache", true);
        org.apache.hadoop.fs.FsShell shell = new org.apache.hadoop.fs.FsShell();
        int rc;
        try {
          rc = org.apache.hadoop.util.ToolRunner.run(c, shell, args);
        } finally {
          shell.close();
        }
        if (rc != 0) {
          throw new IllegalStateException("hadoop fs " + String.join(" ", args) + ": exit " + rc);
        }
        return "";
      }
      case "stop-datanode": {
        int i = index(a[1]);
        if (stopped.containsKey(i)) {
          return " already stopped";
        }
        stopped.put(i, dfs.stopDataNode(position(i)));
        return "";
      }
      case "restart-datanode": {
        int i = index(a[1]);
        MiniDFSCluster.DataNodeProperties p = stopped.remove(i);
        if (p == null) {
          throw new IllegalStateException("DataNode " + i + " is running");
        }
        dfs.restartDataNode(p, true);
        dfs.waitActive();
        return "";
      }
      case "put-on": {
        int i = index(a[1]);
        DataNode dn = dfs.getDataNodes().get(position(i));
        InetSocketAddress[] favored = {dn.getXferAddress()};
        DistributedFileSystem fs = dfs.getFileSystem();
        try (InputStream src = new FileInputStream(a[2]);
             FSDataOutputStream dst = fs.create(new Path(a[3]), FsPermission.getFileDefault(), true, 65536,
                 (short) 1, 1L << 20, null, favored)) {
          src.transferTo(dst);
        }
        String where = locate(a[3]);
        if (!where.equals(String.valueOf(i))) {
          throw new IllegalStateException(a[3] + " landed on DataNodes " + where + ", not only " + i);
        }
        return "";
      }
      case "locate":
        return " " + locate(a[1]);
      default:
        throw new IllegalArgumentException("unknown command " + a[0]);
    }
  }

  private String locate(String path) throws IOException {
    DistributedFileSystem fs = dfs.getFileSystem();
    long len = fs.getFileStatus(new Path(path)).getLen();
    TreeSet<Integer> held = new TreeSet<>();
    for (BlockLocation b : fs.getFileBlockLocations(new Path(path), 0, len)) {
      for (String name : b.getNames()) {
        int port = Integer.parseInt(name.substring(name.lastIndexOf(':') + 1));
        held.add(dnPorts.indexOf(port));
      }
    }
    StringBuilder sb = new StringBuilder();
    for (int i : held) {
      sb.append(sb.length() == 0 ? "" : ",").append(i);
    }
    return sb.toString();
  }

  synchronized void stop() {
    if (down) {
      return;
    }
    down = true;
    try {
      if (yarn != null) {
        yarn.stop();
      }
    } catch (Exception e) {
      System.err.println("minicluster: stopping YARN: " + e);
    }
    try {
      if (dfs != null) {
        dfs.shutdown(true);
      }
    } catch (Exception e) {
      System.err.println("minicluster: stopping HDFS: " + e);
    }
    if (kdc != null) {
      kdc.stop();
    }
  }
}
