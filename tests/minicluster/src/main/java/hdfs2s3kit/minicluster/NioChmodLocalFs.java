package hdfs2s3kit.minicluster;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFs;
import org.apache.hadoop.fs.DelegateToFileSystem;
import org.apache.hadoop.fs.FsConstants;
import org.apache.hadoop.fs.FsServerDefaults;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.local.LocalConfigKeys;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * The local file system of the launcher's daemons (Hadoop's LocalFs) with chmod done in this JVM.
 *
 * <p>Why: without libhadoop.so (Maven Central has no native build) RawLocalFileSystem.setPermission
 * forks a {@code chmod} per path. The NodeManager's localizer sets the permissions of every file of an
 * unpacked {@code -archives} tarball (FSDownload.changePermissions): the toolkit's 4,000 files cost
 * ~20 s of forks before the job's ApplicationMaster could start, more on a loaded machine. A real node
 * has libhadoop and chmods with a syscall, as this does. Test infrastructure only: wired in through
 * {@code fs.AbstractFileSystem.file.impl} in the launcher's own default resources, never in the
 * client configuration it writes.
 */
public final class NioChmodLocalFs extends ChecksumFs {
  public NioChmodLocalFs(URI uri, Configuration conf) throws IOException, URISyntaxException {
    super(new Raw(uri, conf));
  }

  public NioChmodLocalFs(Configuration conf) throws IOException, URISyntaxException {
    this(FsConstants.LOCAL_FS_URI, conf);
  }

  /** What Hadoop's RawLocalFs is (its constructors are package-private), over {@link NioChmod}. */
  static final class Raw extends DelegateToFileSystem {
    Raw(URI uri, Configuration conf) throws IOException, URISyntaxException {
      super(uri, new NioChmod(), conf, FsConstants.LOCAL_FS_URI.getScheme(), false);
    }

    @Override
    public int getUriDefaultPort() {
      return -1;
    }

    @Override
    public FsServerDefaults getServerDefaults(Path f) throws IOException {
      return LocalConfigKeys.getServerDefaults();
    }

    @Override
    @Deprecated
    public FsServerDefaults getServerDefaults() throws IOException {
      return LocalConfigKeys.getServerDefaults();
    }

    @Override
    public boolean isValidName(String src) {
      return true;
    }
  }

  /** RawLocalFileSystem whose setPermission is a syscall (java.nio), not a chmod process. */
  static final class NioChmod extends RawLocalFileSystem {
    @Override
    public void setPermission(Path p, FsPermission permission) throws IOException {
      String rwx = permission.toString();
      if (rwx.length() != 9 || !rwx.matches("[r-][w-][x-][r-][w-][x-][r-][w-][x-]")) {
        super.setPermission(p, permission);    // sticky bit and the like: Hadoop's own way
        return;
      }
      Files.setPosixFilePermissions(pathToFile(p).toPath(), PosixFilePermissions.fromString(rwx));
    }
  }
}
