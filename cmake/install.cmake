# install.cmake - what `cmake --install` puts under the prefix (GNU
# directories): libsdsinf.a and libsdsinf.so, the MPI plugin
# (lib/sdsinf/libsdsinf-mpi.so, where built), the public headers, the
# sdsinf tool, a pkg-config file (sdsinf.pc) and a CMake package
# (find_package(sdsinf): sdsinf::sdsinf, sdsinf::sdsinf_static,
# sdsinf::sdsinf_shared).  Both stay relocatable: they find the prefix from
# where they are installed.
include(CMakePackageConfigHelpers)
set(sdsinf_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/sdsinf)

install(FILES include/sdsinf.h ${PROJECT_BINARY_DIR}/include/sdsinf_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Installed programs and libsdsinf.so keep the run path to libraries found
# outside the system's directories.
set_target_properties(sdsinf_shared PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
foreach(flavour static shared)
  install(TARGETS sdsinf_${flavour} EXPORT sdsinf_${flavour}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT sdsinf_${flavour} NAMESPACE sdsinf::
          FILE sdsinf_${flavour}-targets.cmake DESTINATION ${sdsinf_cmake_dir})
endforeach()

# The plugin, where the library looks for it (CMakeLists.txt), with the
# run path to Open MPI where that is outside the system's directories.
if(TARGET sdsinf_mpi)
  set_target_properties(sdsinf_mpi PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  install(TARGETS sdsinf_mpi LIBRARY DESTINATION ${SDSINF_PLUGIN_INSTALL_DIR})
endif()

if(SDSINF_BUILD_TOOLS)
  if(BUILD_SHARED_LIBS) # the installed tool finds libsdsinf.so beside it
    file(RELATIVE_PATH bin_to_lib ${CMAKE_INSTALL_FULL_BINDIR}
         ${CMAKE_INSTALL_FULL_LIBDIR})
    set_target_properties(sdsinf_cli PROPERTIES
                          INSTALL_RPATH "$ORIGIN/${bin_to_lib}")
  endif()
  set_target_properties(sdsinf_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  install(TARGETS sdsinf_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # the price table, where the tool looks for it (its ../share/sdsinf/)
  install(FILES prices/aws.json DESTINATION ${CMAKE_INSTALL_DATADIR}/sdsinf)
endif()

# sdsinf.pc: `pkg-config --libs sdsinf` links libsdsinf.so, and
# `--static` adds what libsdsinf.a needs of its own (the dependencies this
# build found; Open MPI and Zoltan are the plugin's, loaded at run time).
# sdsinf-static.pc links libsdsinf.a itself (-lsdsinf would find the .so).
set(pc_requires libzstd)
set(pc_libs -pthread -lm)
foreach(lib ${CMAKE_DL_LIBS})
  list(APPEND pc_libs -l${lib})
endforeach()
if(SDSINF_HAVE_REDIS)
  list(APPEND pc_requires hiredis)
endif()
if(SDSINF_HAVE_AWS)
  # as libraries, not Requires.private: `pkg-config --static libcurl`
  # names every library curl itself may use (ssh2, ldap, ...), which a
  # program linking libsdsinf.a does not need
  foreach(l ${SDSINF_AWSDEPS_LIBRARIES})
    list(APPEND pc_libs -l${l})
  endforeach()
endif()
list(JOIN pc_requires " " SDSINF_PC_REQUIRES)
list(JOIN pc_libs " " SDSINF_PC_LIBS)
file(RELATIVE_PATH SDSINF_PC_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" SDSINF_PC_PREFIX "${SDSINF_PC_PREFIX}")
file(RELATIVE_PATH SDSINF_PC_LIBDIR ${CMAKE_INSTALL_PREFIX}
     ${CMAKE_INSTALL_FULL_LIBDIR})
file(RELATIVE_PATH SDSINF_PC_INCLUDEDIR ${CMAKE_INSTALL_PREFIX}
     ${CMAKE_INSTALL_FULL_INCLUDEDIR})
configure_file(cmake/sdsinf.pc.in sdsinf.pc @ONLY)
configure_file(cmake/sdsinf-static.pc.in sdsinf-static.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sdsinf.pc
              ${PROJECT_BINARY_DIR}/sdsinf-static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The CMake package: sdsinfConfig.cmake finds libsdsinf.a's dependencies
# and includes both flavours' exported targets.
configure_package_config_file(cmake/sdsinfConfig.cmake.in sdsinfConfig.cmake
                              INSTALL_DESTINATION ${sdsinf_cmake_dir})
write_basic_package_version_file(sdsinfConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sdsinfConfig.cmake
              ${PROJECT_BINARY_DIR}/sdsinfConfigVersion.cmake
        DESTINATION ${sdsinf_cmake_dir})
